//! The child process of the kill -9 loop: writes through `FieldStore` until killed, printing
//! one acknowledgement line after each write returns. See `fieldcase_tests::crash`.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match fieldcase_tests::crash::writer_main(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crash-writer: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
