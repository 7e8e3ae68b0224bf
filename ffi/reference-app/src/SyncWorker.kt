// Background sync, shaped like an Android `CoroutineWorker` scheduled by WorkManager with a
// network constraint: `doWork()` syncs once and answers success, retry or failure, and the
// exceptions of the bindings decide which (docs/ffi.md, "Enrol, then sync in the background").
//
// JVM stand-in: `runWithBackoff` plays WorkManager's retries with exponential backoff; on a
// phone the worker returns `Result.retry()` and the system calls it again later.

import kotlinx.coroutines.delay
import org.fieldcase.ffi.FieldcaseException
import org.fieldcase.ffi.FieldcaseStore
import org.fieldcase.ffi.SyncCancel
import org.fieldcase.ffi.SyncPhase
import org.fieldcase.ffi.SyncProgress
import org.fieldcase.ffi.SyncProgressListener
import org.fieldcase.ffi.SyncReport
import java.util.concurrent.ConcurrentLinkedQueue

sealed interface WorkResult {
    data class Success(val report: SyncReport) : WorkResult
    /** Nothing is lost: the next attempt continues where this one stopped. */
    data class Retry(val reason: String) : WorkResult
    data class Failure(val reason: String) : WorkResult
}

class SyncWorker(
    private val store: () -> FieldcaseStore,
    /** Called when the server refused the credential: the app signs the officer out. */
    private val onSignOut: (FieldcaseException.Unauthorized) -> Unit,
) {
    /** Progress as the library reports it, on its own threads (an app posts to the main
     *  thread before touching the UI; WorkManager's `setProgressAsync` takes it as it is). */
    val progress = ConcurrentLinkedQueue<SyncProgress>()
    var attempts = 0
        private set

    private val listener = object : SyncProgressListener {
        override fun onProgress(progress: SyncProgress) {
            this@SyncWorker.progress.add(progress)
        }
    }

    suspend fun doWork(cancel: SyncCancel? = null): WorkResult {
        attempts++
        return try {
            val report = store().sync(listener, cancel)
            if (report.complete) WorkResult.Success(report) else WorkResult.Retry("incomplete: ${report.blobsPending} files pending")
        } catch (e: FieldcaseException.Network) {
            WorkResult.Retry("network: ${e.reason}")
        } catch (e: FieldcaseException.Cancelled) {
            WorkResult.Retry("cancelled")
        } catch (e: FieldcaseException.ServerRefused) {
            if (e.code == "rate_limited" || e.status.toInt() >= 500) WorkResult.Retry("server: ${e.code}")
            else WorkResult.Failure("server refused: ${e.status} ${e.code}")
        } catch (e: FieldcaseException.Unauthorized) {
            onSignOut(e)
            WorkResult.Failure("signed out (wiped=${e.wiped}, kept unsynced=${e.keptUnsynced})")
        } catch (e: FieldcaseException.Locked) {
            WorkResult.Failure("locked since ${e.sinceMs}: the officer must unlock")
        }
    }

    /** WorkManager's part: tries until success or failure, waiting longer each time. */
    suspend fun runWithBackoff(maxAttempts: Int, firstDelayMs: Long): WorkResult {
        var wait = firstDelayMs
        var last: WorkResult = WorkResult.Failure("never ran")
        repeat(maxAttempts) {
            last = doWork()
            if (last !is WorkResult.Retry) return last
            delay(wait)
            wait *= 2
        }
        return last
    }

    /** The phases seen so far, in order, without repeats. */
    fun phases(): List<SyncPhase> = progress.map { it.phase }.fold(mutableListOf()) { acc, p ->
        if (acc.lastOrNull() != p) acc.add(p)
        acc
    }
}
