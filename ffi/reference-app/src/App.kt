// The application-scoped holder of the store: one FieldcaseStore per database file per
// process, opened once and shared by every repository and worker (docs/ffi.md, "Threading and
// lifetimes"). It also owns the steps that replace the store: enrolment (the store is reopened
// under the device id the server gave) and sign-out.
//
// On Android this is the Application subclass (or a DI singleton) and `home` is
// `context.filesDir`. This program plays two phones in one JVM, so the holder keys everything
// by the phone's folder; an app has exactly one.

import kotlinx.coroutines.sync.Mutex
import kotlinx.coroutines.sync.withLock
import org.fieldcase.ffi.Enrolment
import org.fieldcase.ffi.FieldcaseException
import org.fieldcase.ffi.FieldcaseStore
import org.fieldcase.ffi.StoreOptions
import java.io.File

object App {
    /** The device id a store is opened under before its enrolment gives it a real one. */

    private val stores = HashMap<String, FieldcaseStore>()
    private val signers = HashMap<String, PlatformSigner>()
    private val enrolling = Mutex()

    fun dbFile(home: File) = File(home, "fieldcase.db")
    fun vault(home: File) = KeyVault(File(home, "keys"))
    private fun deviceIdFile(home: File) = File(home, "device-id")
    private fun key(home: File): String = home.canonicalPath

    /** The enrolled device id (Android: SharedPreferences), or null before enrolment. */
    fun deviceId(home: File): String? = deviceIdFile(home).takeIf { it.exists() }?.readText()?.trim()

    /** The phone's store, opened on first use. Opening takes a few milliseconds of disk work:
     *  call it off the main thread, like every store method. */
    @Synchronized
    fun store(home: File): FieldcaseStore = stores.getOrPut(key(home)) {
        home.mkdirs()
        val store = FieldcaseStore.open(
            dbFile(home).path,
            // No device id: the store makes its own, proposes it at enrolment and adopts the
            // one the server confirms.
            StoreOptions(dbKey = vault(home).databaseKey()),
        )
        // Installed before enrolment (so the server registers this key) and after every open.
        store.setSigner(signer(home))
        store
    }

    @Synchronized
    fun signer(home: File): PlatformSigner =
        signers.getOrPut(key(home)) { PlatformSigner(vault(home).signingKey()) }

    /**
     * Enrols the phone with the code the operator gave (typed, or read from its QR code with
     * `parseEnrolmentLink`), keeps the device id (the store has adopted it: no reopen).
     */
    suspend fun enrol(home: File, serverUrl: String, code: String, label: String): Enrolment =
        enrolling.withLock {
            val enrolment = store(home).enrol(serverUrl, code, label)
            deviceIdFile(home).writeText(enrolment.deviceId)
            check(store(home).deviceId() == enrolment.deviceId) { "the store did not adopt the enrolled id" }
            enrolment
        }

    /**
     * The server refused the phone's credential (SyncWorker maps `Unauthorized` here). When the
     * library wiped the store it also closed it: forget it, and its keys with it. When it kept
     * unsynced work for handover (`keptUnsynced`) the store stays open for `exportChanges`,
     * and only the enrolment is forgotten.
     */
    @Synchronized
    fun signOut(home: File, refused: FieldcaseException.Unauthorized) {
        deviceIdFile(home).delete()
        if (refused.wiped && !refused.keptUnsynced) {
            close(home)
            vault(home).erase()
            signers.remove(key(home))
        }
    }

    /** Whether the phone holds an open store (false after a full wipe). */
    @Synchronized
    fun isOpen(home: File): Boolean = stores.containsKey(key(home))

    @Synchronized
    fun close(home: File) {
        stores.remove(key(home))?.let {
            it.closeStore()
            it.close()
        }
    }

    @Synchronized
    fun closeAll() {
        stores.keys.toList().forEach { path -> close(File(path)) }
    }
}
