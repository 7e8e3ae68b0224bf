// The phone's secrets: the database key and the device's signing key.
//
// JVM stand-in. On Android the 32-byte database key is made once, wrapped by an Android
// Keystore AES key (or kept in EncryptedSharedPreferences) and unwrapped at start; the signing
// key is a Keystore Ed25519 key that never leaves the hardware (PlatformSigner). Here both are
// files readable by the owner only, in the app's private folder.

import java.io.File
import java.nio.file.Files
import java.nio.file.attribute.PosixFilePermissions
import java.security.KeyFactory
import java.security.KeyPair
import java.security.KeyPairGenerator
import java.security.SecureRandom
import java.security.spec.PKCS8EncodedKeySpec
import java.security.spec.X509EncodedKeySpec

class KeyVault(private val dir: File) {
    private val dbKeyFile = File(dir, "db.key")
    private val signingKeyFile = File(dir, "device-ed25519.pk8")
    private val publicKeyFile = File(dir, "device-ed25519.pub")

    /**
     * The key of the SQLCipher store and of the sealed evidence files: made on first use and
     * the same ever after. A key of the wrong length is refused rather than replaced, since a
     * new key would make the existing store unreadable (FieldcaseStore.open says WrongKey).
     */
    @Synchronized
    fun databaseKey(): ByteArray {
        if (!dbKeyFile.exists()) {
            val key = ByteArray(32).also { SecureRandom().nextBytes(it) }
            writePrivate(dbKeyFile, key)
        }
        val key = dbKeyFile.readBytes()
        check(key.size == 32) { "database key in $dbKeyFile has ${key.size} bytes, not 32" }
        return key
    }

    /** The device's Ed25519 key pair: made once, kept for the life of the enrolment. */
    @Synchronized
    fun signingKey(): KeyPair {
        val factory = KeyFactory.getInstance("Ed25519")
        if (!signingKeyFile.exists()) {
            val pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair()
            writePrivate(signingKeyFile, pair.private.encoded)
            writePrivate(publicKeyFile, pair.public.encoded)
        }
        return KeyPair(
            factory.generatePublic(X509EncodedKeySpec(publicKeyFile.readBytes())),
            factory.generatePrivate(PKCS8EncodedKeySpec(signingKeyFile.readBytes())),
        )
    }

    /** Forgets both keys: after a revocation wiped the store, nothing they open is left. */
    @Synchronized
    fun erase() {
        listOf(dbKeyFile, signingKeyFile, publicKeyFile).forEach { it.delete() }
    }

    private fun writePrivate(file: File, bytes: ByteArray) {
        dir.mkdirs()
        val tmp = File(dir, file.name + ".tmp")
        tmp.writeBytes(bytes)
        runCatching {
            Files.setPosixFilePermissions(tmp.toPath(), PosixFilePermissions.fromString("rw-------"))
        }
        check(tmp.renameTo(file)) { "could not write $file" }
    }
}
