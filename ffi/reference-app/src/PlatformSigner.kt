// The device key as the library sees it: the `Signer` interface of the bindings.
//
// JVM stand-in: the JDK's Ed25519 over the key pair KeyVault keeps in a file. On Android the
// same two methods sit over an Android Keystore key (docs/ffi.md, "Device key"); the library
// calls them on its own threads and checks every signature against publicKey() before it
// writes anything.

import org.fieldcase.ffi.Signer
import java.security.KeyPair
import java.security.Signature
import java.util.concurrent.atomic.AtomicInteger

class PlatformSigner(private val pair: KeyPair) : Signer {
    /** How many times the library asked for a signature (the day's summary shows it). */
    val signatures = AtomicInteger()

    /** The raw 32-byte public key: the last 32 bytes of its X.509 encoding. */
    override fun publicKey(): ByteArray = pair.public.encoded.copyOfRange(pair.public.encoded.size - 32, pair.public.encoded.size)

    override fun sign(message: ByteArray): ByteArray {
        signatures.incrementAndGet()
        return Signature.getInstance("Ed25519").run {
            initSign(pair.private)
            update(message)
            sign()
        }
    }
}
