// The bureau's sync server for the day: the real fieldcase-server binary on 127.0.0.1, set up
// with the admin CLI as an operator would (units, officers, enrolment codes, revocation).
//
// JVM-only scaffolding of this program; a phone talks to the bureau's deployed server.

import java.io.File
import java.net.HttpURLConnection
import java.net.ServerSocket
import java.net.URI

class LocalServer(private val bin: File, private val data: File) {
    private var process: Process? = null
    val port: Int = ServerSocket(0).use { it.localPort }
    val url = "http://127.0.0.1:$port"

    fun admin(vararg args: String): String {
        val p = ProcessBuilder(bin.path, "admin", "--data", data.path, "--json", *args)
            .redirectError(ProcessBuilder.Redirect.PIPE).start()
        val out = p.inputStream.bufferedReader().readText()
        val err = p.errorStream.bufferedReader().readText()
        check(p.waitFor() == 0) { "admin ${args.toList()} failed: $err" }
        return out
    }

    /** A one-time enrolment code for an officer, as the operator hands it out. */
    fun enrolmentCode(user: String): String =
        Regex("\"code\"\\s*:\\s*\"([^\"]+)\"").find(admin("create-code", "--user", user))
            ?.groupValues?.get(1) ?: error("create-code printed no code")

    /** Starts serving and waits until /healthz answers (30 s at most). */
    fun start() {
        check(process == null) { "already running" }
        process = ProcessBuilder(bin.path, "serve", "--data", data.path, "--listen", "127.0.0.1:$port")
            .redirectOutput(ProcessBuilder.Redirect.DISCARD)
            .redirectError(ProcessBuilder.Redirect.DISCARD)
            .start()
        val deadline = System.nanoTime() + 30_000_000_000L
        while (!healthy()) {
            check(process?.isAlive == true) { "fieldcase-server exited with ${process?.exitValue()}" }
            check(System.nanoTime() < deadline) { "fieldcase-server did not answer on $url within 30 s" }
            Thread.sleep(100)
        }
    }

    /** Stops serving (the phones see no network); `start()` serves the same data again. */
    fun stop() {
        process?.let {
            it.destroy()
            it.waitFor()
        }
        process = null
    }

    private fun healthy(): Boolean = try {
        (URI("$url/healthz").toURL().openConnection() as HttpURLConnection).run {
            connectTimeout = 1000
            readTimeout = 1000
            responseCode == 200
        }
    } catch (e: java.io.IOException) {
        false
    }
}
