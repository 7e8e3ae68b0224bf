// The data layer of the case screens: what an officer does to a case, each call off the main
// thread (Dispatchers.IO; every store method blocks on SQLite and waits for an fsync), each
// result a plain value the screen can show. Exceptions are left to the screen, which knows
// what to do with each `FieldcaseException` (docs/ffi.md, "Errors").
//
// This file is what an Android app copies nearly as it is: only the files handed in (camera,
// recorder and signing-pad output) come from the platform.

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.fieldcase.ffi.ActionField
import org.fieldcase.ffi.ActionMethod
import org.fieldcase.ffi.CaptureInput
import org.fieldcase.ffi.CaseView
import org.fieldcase.ffi.DueFollowUp
import org.fieldcase.ffi.Eligibility
import org.fieldcase.ffi.EvidenceFetchReport
import org.fieldcase.ffi.EvidenceView
import org.fieldcase.ffi.ExemptionKind
import org.fieldcase.ffi.ExemptionRequest
import org.fieldcase.ffi.FieldValue
import org.fieldcase.ffi.FieldcaseStore
import org.fieldcase.ffi.FollowUpInput
import org.fieldcase.ffi.NewAction
import org.fieldcase.ffi.NewCase
import org.fieldcase.ffi.NewParty
import org.fieldcase.ffi.PartyType
import org.fieldcase.ffi.PartyView
import org.fieldcase.ffi.Place
import org.fieldcase.ffi.PledgeInput
import org.fieldcase.ffi.VerificationView
import java.io.File
import java.security.MessageDigest

/** A file of a received case, fetched from the server and checked against its hash. */
data class FetchedFile(val evidenceId: String, val sha256: String, val bytes: Int)

class CaseRepository(
    private val store: FieldcaseStore,
    /** The officer signed in on this phone: every record is written in their name. */
    val officer: String,
    private val unit: String,
) {
    /** The names of the threads the store was called on (the summary shows none was main). */
    val threads: MutableSet<String> = java.util.concurrent.ConcurrentHashMap.newKeySet()

    private suspend fun <T> io(body: FieldcaseStore.() -> T): T = withContext(Dispatchers.IO) {
        threads.add(Thread.currentThread().name)
        store.body()
    }

    /** Registers the person found at the scene; the view shows the name masked. */
    suspend fun registerPerson(name: String, idNumber: String, phone: String): PartyView = io {
        registerParty(
            NewParty(partyType = PartyType.PERSON, unit = unit, by = officer, name = name, idNumber = idNumber, phone = phone),
        )
    }

    /** The catalogue item and tier a first-offence exemption is allowed for (street trading
     *  in the built-in catalogue); a real form lets the officer pick from `violationItems()`. */
    suspend fun firstOffenceItem(): Pair<String, String> = io {
        val item = violationItems().first {
            ExemptionKind.FIRST_OFFENCE in it.exemptionKinds && PartyType.PERSON in it.appliesTo && it.exemptTiers.isNotEmpty()
        }
        item.code to item.exemptTiers.first()
    }

    /** Opens a case at the scene with the persuasion that was already done. */
    suspend fun openCaseWithPersuasion(
        partyId: String,
        violation: Pair<String, String>,
        partner: String,
        atMs: Long,
        place: Place,
        explained: String,
    ): CaseView = io {
        createCase(
            NewCase(
                unit = unit,
                occurredAtMs = atMs,
                place = place,
                officers = listOf(officer, partner),
                recordedBy = officer,
                violationCode = violation.first,
                tier = violation.second,
                partyId = partyId,
                description = "店外占道摆放货架",
                actions = listOf(
                    NewAction(
                        method = ActionMethod.PERSUASION,
                        atMs = atMs,
                        by = officer,
                        fields = listOf(
                            ActionField("explained", FieldValue.Text(explained)),
                            ActionField("outcome", FieldValue.Text("accepted")),
                        ),
                    ),
                ),
            ),
        )
    }

    private fun capture(atMs: Long, place: Place?, note: String) =
        CaptureInput(officer = officer, deviceTimeMs = atMs, monotonicMs = atMs - BOOT_MS, place = place, note = note)

    suspend fun addPhoto(caseId: String, file: File, atMs: Long, place: Place): EvidenceView =
        io { addPhoto(caseId, file.path, capture(atMs, place, "现场照片")) }

    suspend fun addRecording(caseId: String, file: File, atMs: Long, place: Place): EvidenceView =
        io { addAudio(caseId, file.path, capture(atMs, place, "劝导录音"), null) }

    suspend fun eligibility(caseId: String): Eligibility =
        io { checkExemption(caseId, true, true, true) }

    /**
     * Grants the first-offence exemption: the party signs the pledge on the signing pad (its
     * image becomes evidence), and the pledge names the deadline to correct.
     */
    suspend fun grantFirstOffenceExemption(
        caseId: String,
        signaturePng: File,
        pledge: String,
        atMs: Long,
        deadlineMs: Long,
    ): CaseView = io {
        val signature = addSignatureImage(caseId, signaturePng.path, capture(atMs, null, "当事人签名"))
        grantExemption(
            caseId,
            ExemptionRequest(
                by = officer,
                atMs = atMs,
                minor = true,
                noHarm = true,
                pledge = PledgeInput(text = pledge, signedAtMs = atMs, deadlineMs = deadlineMs, signatureEvidenceId = signature.id),
            ),
        )
        getCase(caseId)
    }

    suspend fun scheduleFollowUp(caseId: String, dueMs: Long, note: String): String =
        io { scheduleFollowUp(caseId, officer, dueMs, note) }

    suspend fun case(caseId: String): CaseView = io { getCase(caseId) }

    suspend fun evidenceOf(caseId: String): List<EvidenceView> = io { evidence(caseId) }

    /** Follow-ups of the officer's unit falling due within a day of `nowMs`. */
    suspend fun dueFollowUps(nowMs: Long): List<DueFollowUp> = io { dueFollowUps(unit, nowMs, DAY_MS) }

    /**
     * Fetches the originals of a received case (sync brings thumbnails only) and checks each
     * against its hash; the library checks too, this shows the app what it got.
     */
    suspend fun fetchOriginals(caseId: String): List<FetchedFile> {
        val entries = evidenceOf(caseId)
        return entries.map { entry ->
            val size = withContext(Dispatchers.IO) { store.downloadEvidenceFile(entry.sha256) }
            val bytes = io { readEvidenceFile(entry.sha256) }
                ?: throw IllegalStateException("evidence ${entry.id}: downloaded but not readable")
            check(bytes.size.toULong() == size) { "evidence ${entry.id}: ${bytes.size} bytes read, $size downloaded" }
            val sha = MessageDigest.getInstance("SHA-256").digest(bytes).joinToString("") { "%02x".format(it) }
            check(sha == entry.sha256) { "evidence ${entry.id}: content hashes to $sha, not ${entry.sha256}" }
            FetchedFile(entry.id, sha, bytes.size)
        }
    }

    /** Downloads every file `verifyCase` checks that this phone lacks (display copies too). */
    suspend fun fetchForVerification(caseId: String): EvidenceFetchReport =
        store.fetchCaseEvidence(caseId, null, null)

    suspend fun verify(caseId: String): VerificationView = io { verifyCase(caseId) }

    suspend fun recordFollowUp(caseId: String, followUpId: String, atMs: Long, corrected: Boolean): CaseView = io {
        recordFollowUp(caseId, followUpId, FollowUpInput(atMs = atMs, by = officer, corrected = corrected, satisfaction = "satisfied"))
        getCase(caseId)
    }

    suspend fun close(caseId: String, atMs: Long, reason: String): CaseView = io {
        closeCase(caseId, officer, atMs, reason)
        getCase(caseId)
    }

    companion object {
        const val DAY_MS = 86_400_000L
        /** Where the monotonic clock started (Android: boot), for CaptureInput.monotonicMs. */
        private const val BOOT_MS = 1_789_900_000_000L
    }
}
