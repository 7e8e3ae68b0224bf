// An officer's day, played through the app's data layer against a real fieldcase-server:
// the first officer's phone enrols, records a street-trading case with persuasion, a photo, a
// recording and a first-offence exemption with a signed pledge, and syncs (first without
// network: the worker retries); the partner's phone enrols, receives the case, fetches and
// checks the evidence, records the follow-up and closes the case; at the end of the shift the
// partner's phone is handed back and revoked, and its worker signs out.
//
//   java ... OfficerDayKt <fieldcase-server binary> <work folder>
//
// Every step checks what it got; the first failed check ends the day with a non-zero exit.
// Only the public generated API (org.fieldcase.ffi) is used.

import kotlinx.coroutines.runBlocking
import org.fieldcase.ffi.CaseStatus
import org.fieldcase.ffi.EvidenceKind
import org.fieldcase.ffi.FieldcaseException
import org.fieldcase.ffi.FollowUpSource
import org.fieldcase.ffi.IdDocument
import org.fieldcase.ffi.validateIdNumber
import org.fieldcase.ffi.Place
import org.fieldcase.ffi.SyncPhase
import org.fieldcase.ffi.SyncReport
import java.io.File
import java.security.MessageDigest
import java.time.Instant
import java.time.ZoneId
import java.time.ZonedDateTime
import kotlin.system.exitProcess

const val UNIT = "luan/jinan/squad-1"
const val OFFICER = "OF-1001"
const val PARTNER = "OF-1002"

/** The day played: 21 September 2026 in Lu'an (UTC+8). */
val ZONE: ZoneId = ZoneId.of("Asia/Shanghai")
val MORNING: ZonedDateTime = ZonedDateTime.of(2026, 9, 21, 8, 30, 0, 0, ZONE)
fun at(hour: Int, minute: Int, days: Long = 0): Long =
    MORNING.plusDays(days).withHour(hour).withMinute(minute).toInstant().toEpochMilli()
fun clock(ms: Long): String = Instant.ofEpochMilli(ms).atZone(ZONE).toLocalTime().toString()

val SCENE = Place(lat = 31.7349, lon = 116.5079, accuracyM = 6.0, address = "六安市金安区梅山中路")

class Day {
    var passed = 0
    val log = mutableListOf<String>()

    /** One step of the day: runs it, and on success notes what it showed. */
    inline fun <T> step(what: String, body: () -> T): T {
        val result = body()
        passed++
        println("ok   $what")
        return result
    }

    fun note(line: String) {
        log.add(line)
    }
}

fun expect(cond: Boolean, what: () -> String) {
    if (!cond) throw AssertionError(what())
}

fun sha256(file: File): String =
    MessageDigest.getInstance("SHA-256").digest(file.readBytes()).joinToString("") { "%02x".format(it) }

fun SyncReport.line() =
    "pushed $pushed, accepted $accepted, received $received, files up $blobsUploaded, thumbnails $thumbnailsFetched, rejections ${rejections.size}"

fun main(args: Array<String>) {
    if (args.size != 2) {
        System.err.println("usage: OfficerDayKt <fieldcase-server binary> <work folder>")
        exitProcess(2)
    }
    val day = Day()
    val ok = try {
        runBlocking { officerDay(File(args[0]), File(args[1]), day) }
        true
    } catch (t: Throwable) {
        println("FAIL ${t.javaClass.simpleName}: ${t.message}")
        t.printStackTrace(System.out)
        false
    } finally {
        App.closeAll()
    }
    println()
    println("The day (${MORNING.toLocalDate()}):")
    day.log.forEach { println("  $it") }
    println("${day.passed} passed, ${if (ok) 0 else 1} failed")
    exitProcess(if (ok) 0 else 1)
}

suspend fun officerDay(serverBin: File, work: File, day: Day) {
    val server = LocalServer(serverBin, File(work, "server"))
    day.step("the operator sets up the squad and starts the server") {
        server.admin("create-unit", "--path", "luan", "--name", "六安市")
        server.admin("create-unit", "--path", "luan/jinan", "--name", "金安区")
        server.admin("create-unit", "--path", UNIT, "--name", "一中队")
        for (id in listOf(OFFICER, PARTNER)) {
            server.admin("create-user", "--id", id, "--name", id, "--role", "officer", "--unit", UNIT, "--cert-no", "皖城执$id")
        }
        server.start()
    }
    try {
        playDay(server, work, day)
    } finally {
        server.stop()
    }
}

suspend fun playDay(server: LocalServer, work: File, day: Day) {
    val phoneA = File(work, "phone-a")
    val phoneB = File(work, "phone-b")
    val camera = File(work, "camera")

    // --- 08:30, the first officer's phone, enrolled at the station ---
    val enrolA = day.step("phone A enrols with the operator's code") {
        App.enrol(phoneA, server.url, server.enrolmentCode(OFFICER), "phone-a")
    }
    day.step("phone A's device key is the platform signer's") {
        expect(enrolA.role == "officer" && enrolA.unit == UNIT) { "enrolment: $enrolA" }
        expect(App.store(phoneA).devicePublicKey().contentEquals(App.signer(phoneA).publicKey())) {
            "the store holds another device key than the signer's"
        }
    }
    day.note("${clock(at(8, 30))} phone A enrolled for $OFFICER as ${enrolA.deviceId}")
    val repoA = CaseRepository(App.store(phoneA), OFFICER, UNIT)
    val workerA = SyncWorker({ App.store(phoneA) }, { App.signOut(phoneA, it) })

    // --- 09:05, a stall on the pavement of Meishan Road ---
    val party = day.step("the stall holder is registered, the name masked in views") {
        // The form checks as the officer types: a wrong last character is caught before saving.
        val typo = validateIdNumber("341502199001011281", IdDocument.MAINLAND_ID)
        expect(typo?.code == "id_number.check_character") { "a wrong check character gave $typo" }
        expect(validateIdNumber("34150219900101128X", IdDocument.MAINLAND_ID) == null) { "a valid number refused" }
        val p = repoA.registerPerson("张三丰", "34150219900101128X", "13812345678")
        expect(p.maskedName == "张**") { "masked name ${p.maskedName}" }
        expect(!p.toString().contains("34150219900101128X")) { "the party view carries the identity number" }
        p
    }
    val violation = repoA.firstOffenceItem()
    val case = day.step("a case is opened with the persuasion done at the scene") {
        val c = repoA.openCaseWithPersuasion(party.id, violation, PARTNER, at(9, 5), SCENE, "占道经营影响行人通行, 当事人同意立即收回货架")
        expect(c.status == CaseStatus.OPEN) { "status ${c.status}" }
        expect(c.actions.size == 1) { "actions ${c.actions}" }
        c
    }
    day.note("${clock(at(9, 5))} case ${case.id} opened (${violation.first}, tier ${violation.second}) with persuasion")

    val photoFile = Devices.camera(File(camera, "scene.jpg"))
    val photo = day.step("the photo of the scene is added") {
        val e = repoA.addPhoto(case.id, photoFile, at(9, 7), SCENE)
        expect(e.kind == EvidenceKind.PHOTO) { "kind ${e.kind}" }
        expect(e.sha256 == sha256(photoFile)) { "photo hash ${e.sha256}, file ${sha256(photoFile)}" }
        expect(e.width == 1600u && e.height == 1200u) { "photo ${e.width}x${e.height}" }
        expect(e.thumbnailSha256 != null && e.displaySha256 != null) { "no thumbnail or display copy" }
        e
    }
    val recordingFile = Devices.recorder(File(camera, "persuasion.wav"))
    val recording = day.step("the recording of the persuasion is added") {
        val e = repoA.addRecording(case.id, recordingFile, at(9, 8), SCENE)
        expect(e.kind == EvidenceKind.AUDIO) { "kind ${e.kind}" }
        expect((e.durationMs ?: 0L) in 2_900L..3_100L) { "duration ${e.durationMs}" }
        e
    }
    day.note("${clock(at(9, 7))} photo (${photo.size} bytes) and recording (${recording.durationMs} ms) added")

    val deadline = at(17, 0, days = 1)
    val pledged = day.step("a first-offence exemption is granted on a signed pledge with a deadline") {
        val eligibility = repoA.eligibility(case.id)
        expect(eligibility.eligible) { "not eligible: ${eligibility.conditions.filter { !it.met }}" }
        val c = repoA.grantFirstOffenceExemption(
            case.id, Devices.signingPad(File(camera, "pledge-signature.png")),
            "本人承诺于次日17时前整改完毕", at(9, 15), deadline,
        )
        expect(c.status == CaseStatus.PLEDGED) { "status ${c.status}" }
        expect(c.exemption?.pledge?.deadlineMs == deadline) { "pledge ${c.exemption?.pledge}" }
        expect(c.evidenceCount == 3u) { "evidence ${c.evidenceCount}: photo, recording, signature expected" }
        c
    }
    val followUpId = day.step("the pledge scheduled its follow-up at the deadline") {
        val visit = pledged.followUps.singleOrNull { it.source == FollowUpSource.PLEDGE }
        expect(visit != null && visit.dueMs == deadline) { "follow-ups ${pledged.followUps}" }
        visit!!.id
    }
    day.step("phone A's case verifies clean (signatures, files, history)") {
        val v = repoA.verify(case.id)
        expect(v.clean) { "issues: ${v.issues}" }
        expect(App.signer(phoneA).signatures.get() > 0) { "the platform signer was never asked" }
    }
    day.note("${clock(at(9, 15))} exemption granted (${pledged.exemption?.kind}), pledge deadline ${clock(deadline)} next day, follow-up $followUpId")

    // --- 09:40, no signal under the overpass ---
    day.step("without network the worker asks to retry, and nothing is lost") {
        server.stop()
        val result = workerA.doWork()
        expect(result is WorkResult.Retry) { "offline sync gave $result" }
        day.note("${clock(at(9, 40))} sync without signal: ${(result as WorkResult.Retry).reason.substringBefore(':')}, retry")
    }
    val upA = day.step("back in coverage the retried sync sends the case and its files") {
        server.start()
        val result = workerA.runWithBackoff(maxAttempts = 5, firstDelayMs = 200)
        expect(result is WorkResult.Success) { "sync: $result" }
        val report = (result as WorkResult.Success).report
        expect(report.rejections.isEmpty()) { "rejections ${report.rejections}" }
        expect(report.blobsUploaded >= 3u && report.blobsPending == 0u) { "files: ${report.line()}" }
        val phases = workerA.phases()
        expect(phases.first() == SyncPhase.RECORDS && phases.last() == SyncPhase.DONE && SyncPhase.BLOBS in phases) { "phases $phases" }
        report
    }
    day.note("${clock(at(9, 50))} phone A synced after ${workerA.attempts} attempts: ${upA.line()}")

    // --- 13:00, the partner's phone joins ---
    val enrolB = day.step("phone B enrols for the partner") {
        App.enrol(phoneB, server.url, server.enrolmentCode(PARTNER), "phone-b")
    }
    val repoB = CaseRepository(App.store(phoneB), PARTNER, UNIT)
    val workerB = SyncWorker({ App.store(phoneB) }, { App.signOut(phoneB, it) })
    val downB = day.step("phone B's sync receives the case with its exemption") {
        val result = workerB.doWork()
        expect(result is WorkResult.Success) { "sync: $result" }
        val report = (result as WorkResult.Success).report
        val seen = repoB.case(case.id)
        expect(seen.status == CaseStatus.PLEDGED) { "status on B ${seen.status}" }
        expect(seen.exemption?.pledge?.deadlineMs == deadline) { "pledge on B ${seen.exemption}" }
        expect(seen.evidenceCount == 3u) { "evidence on B ${seen.evidenceCount}" }
        report
    }
    day.note("${clock(at(13, 0))} phone B enrolled as ${enrolB.deviceId} and synced: ${downB.line()}")
    val fetched = day.step("phone B fetches the originals and they match what phone A captured") {
        val files = repoB.fetchOriginals(case.id)
        expect(files.size == 3) { "fetched ${files.size} files" }
        val shas = files.map { it.sha256 }.toSet()
        expect(sha256(photoFile) in shas && sha256(recordingFile) in shas) { "the photo or recording differs from the capture" }
        files
    }
    day.step("phone B fetches what verification needs and verifies: phone A's signatures and every file") {
        val fetchedForCheck = repoB.fetchForVerification(case.id)
        expect(fetchedForCheck.refused.isEmpty()) { "refused: ${fetchedForCheck.refused}" }
        val v = repoB.verify(case.id)
        expect(v.clean) { "issues on B: ${v.issues}" }
        expect(v.signaturesChecked > 0u && v.blobsChecked >= 3u) { "checked ${v.signaturesChecked} signatures, ${v.blobsChecked} files" }
        day.note("${clock(at(13, 10))} phone B fetched ${fetched.sumOf { it.bytes }} bytes of originals; ${v.signaturesChecked} signatures and ${v.blobsChecked} files verify")
    }

    // --- next day, 16:30: the stall is gone ---
    val closed = day.step("phone B records the follow-up (corrected) and closes the case") {
        val due = repoB.dueFollowUps(at(8, 30, days = 1))
        expect(due.any { it.followUpId == followUpId && it.caseId == case.id }) { "due follow-ups on B: $due" }
        val corrected = repoB.recordFollowUp(case.id, followUpId, at(16, 30, days = 1), corrected = true)
        expect(corrected.status == CaseStatus.CORRECTED) { "after the follow-up: ${corrected.status}" }
        val c = repoB.close(case.id, at(16, 40, days = 1), "已按承诺整改, 结案")
        expect(c.status == CaseStatus.CLOSED) { "after closing: ${c.status}" }
        c
    }
    day.step("both phones sync and phone A sees the case closed") {
        val b = workerB.doWork()
        expect(b is WorkResult.Success && b.report.rejections.isEmpty()) { "phone B: $b" }
        val a = workerA.doWork()
        expect(a is WorkResult.Success) { "phone A: $a" }
        val onA = repoA.case(case.id)
        expect(onA.status == CaseStatus.CLOSED) { "on A: ${onA.status}" }
        expect(onA.followUps.any { it.id == followUpId && it.result?.corrected == true }) { "follow-up on A: ${onA.followUps}" }
    }
    day.note("${clock(at(16, 40))} next day: follow-up recorded on phone B, case ${closed.status.name.lowercase()}, both phones agree")

    // --- end of the shift: phone B goes back to the pool and is revoked ---
    day.step("the revoked phone B is signed out and its store erased") {
        server.admin("revoke-device", "--id", enrolB.deviceId)
        val result = workerB.doWork()
        expect(result is WorkResult.Failure) { "revoked sync: $result" }
        expect(!App.isOpen(phoneB) && App.deviceId(phoneB) == null) { "phone B still holds its store or enrolment" }
        expect(!App.dbFile(phoneB).exists()) { "phone B's database file is still there" }
        day.note("end of shift: phone B revoked; ${(result as WorkResult.Failure).reason}")
    }
    day.step("every store call ran off the main thread") {
        val main = Thread.currentThread().name
        val used = repoA.threads + repoB.threads
        expect(used.isNotEmpty() && main !in used) { "store called on $used (main is $main)" }
    }
    try {
        App.store(phoneA).integrityCheck().let { expect(it == "ok") { "phone A integrity: $it" } }
    } catch (e: FieldcaseException) {
        throw AssertionError("phone A's store after the day: $e")
    }
}
