// Kotlin binding tests: conversions, exceptions and object lifetimes of the generated API on
// the JVM (JNA), through the officer's flow. Run with ffi/tests/kotlin/run.sh.
//
// The server section starts the real fieldcase-server (built beside the library) on
// loopback and drives enrolment and sync through suspend functions, with a progress listener
// and a platform signer implemented in Kotlin (callbacks from Rust worker threads).

import org.fieldcase.ffi.*
import java.io.File
import java.util.concurrent.ConcurrentLinkedQueue
import kotlin.concurrent.thread
import kotlin.system.exitProcess
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.delay
import java.net.ServerSocket
import java.net.URL
import java.security.KeyPairGenerator
import java.security.Signature as JSignature

const val T0 = 1_790_000_000_000L
const val DAY = 86_400_000L
const val UNIT = "luan/jinan/squad-1"
const val OFFICER = "OF-1001"
const val ID_NUMBER = "34150219900101128X"
const val NAME = "张三丰"
val BUREAU_KEY = ByteArray(32) { it.toByte() }
// The database key a phone would keep in its keystore.
val DB_KEY = ByteArray(32) { 0x42 }

var passed = 0
var failed = 0
lateinit var workDir: File

fun test(name: String, body: () -> Unit) {
    try {
        body()
        passed++
        println("PASS $name")
    } catch (t: Throwable) {
        failed++
        println("FAIL $name: $t")
        t.printStackTrace(System.out)
    }
}

fun check(cond: Boolean, what: () -> String = { "check failed" }) {
    if (!cond) throw AssertionError(what())
}

fun <T> eq(actual: T, expected: T) = check(actual == expected) { "expected <$expected>, got <$actual>" }

inline fun <reified E : Throwable> raises(body: () -> Unit): E {
    try {
        body()
    } catch (e: Throwable) {
        if (e is E) return e
        throw AssertionError("expected ${E::class.simpleName}, got $e")
    }
    throw AssertionError("expected ${E::class.simpleName}, nothing thrown")
}

fun openStore(name: String, key: ByteArray? = BUREAU_KEY): FieldcaseStore =
    FieldcaseStore.open(
        File(workDir, "$name-${System.nanoTime()}.db").path,
        StoreOptions(deviceId = name, dbKey = DB_KEY, partyMatchKey = key),
    )

fun place() = Place(lat = 31.7349, lon = 116.5079, accuracyM = 8.0, address = "六安市金安区梅山中路")

fun text(name: String, value: String) = ActionField(name, FieldValue.Text(value))

fun persuasion(at: Long) = NewAction(
    method = ActionMethod.PERSUASION,
    atMs = at,
    by = OFFICER,
    fields = listOf(text("explained", "占道经营影响通行"), text("outcome", "accepted")),
)

fun warning(at: Long, deadline: Long) = NewAction(
    method = ActionMethod.WARNING,
    atMs = at,
    by = OFFICER,
    fields = listOf(text("warning_text", "限期整改"), ActionField("deadline", FieldValue.Integer(deadline))),
)

fun register(store: FieldcaseStore): PartyView = store.registerParty(
    NewParty(
        partyType = PartyType.PERSON,
        unit = UNIT,
        by = OFFICER,
        name = NAME,
        idNumber = ID_NUMBER,
        phone = "13812345678",
    )
)

fun exemptable(store: FieldcaseStore): Pair<String, String> {
    val item = store.violationItems().first {
        ExemptionKind.FIRST_OFFENCE in it.exemptionKinds &&
            PartyType.PERSON in it.appliesTo && it.exemptTiers.isNotEmpty()
    }
    return item.code to item.exemptTiers.first()
}

fun newCase(
    store: FieldcaseStore,
    partyId: String?,
    at: Long = T0,
    actions: List<NewAction> = listOf(persuasion(at)),
    code: String? = null,
): NewCase {
    val (itemCode, tier) = exemptable(store)
    return NewCase(
        unit = UNIT,
        occurredAtMs = at,
        place = place(),
        officers = listOf(OFFICER, "OF-1002"),
        recordedBy = OFFICER,
        violationCode = code ?: itemCode,
        tier = tier,
        partyId = partyId,
        actions = actions,
    )
}

fun pledgedExemption(at: Long, deadline: Long) = ExemptionRequest(
    by = OFFICER,
    atMs = at,
    minor = true,
    noHarm = true,
    pledge = PledgeInput(text = "本人承诺当日内整改", signedAtMs = at, deadlineMs = deadline),
)

fun main(args: Array<String>) {
    workDir = File(args.getOrElse(0) { System.getProperty("java.io.tmpdir") })

    test("officer flow: party, persuasion and warning, exemption, follow-up, close") {
        openStore("phone-a").use { store ->
            val party = register(store)
            eq(party.maskedName, "张**")
            check(!party.toString().contains(ID_NUMBER)) { "party view leaks the identity number" }

            val case = store.createCase(newCase(store, party.id, actions = listOf(persuasion(T0), warning(T0 + 1000, T0 + DAY))))
            eq(case.status, CaseStatus.OPEN)
            eq(case.actions.map { it.method }, listOf(ActionMethod.PERSUASION, ActionMethod.WARNING))
            eq(case.actions[1].measureCategory, MeasureCategory.MANAGEMENT)
            val deadline = case.actions[1].fields.first { it.name == "deadline" }.value
            eq((deadline as FieldValue.Integer).value, T0 + DAY)
            eq(store.openCases("luan/jinan", 10u).map { it.id }, listOf(case.id))

            val e = store.checkExemption(case.id, true, true, true)
            check(e.eligible) { "expected eligible: ${e.conditions}" }
            eq(e.kind, ExemptionKind.FIRST_OFFENCE)
            check(e.conditions.all { it.met })

            val ex = store.grantExemption(case.id, pledgedExemption(T0 + 60_000, T0 + DAY))
            eq(ex.pledge?.deadlineMs, T0 + DAY)
            eq(store.getCase(case.id).status, CaseStatus.PLEDGED)
            eq(raises<FieldcaseException.Refused> { store.closeCase(case.id, OFFICER, T0 + 70_000, "done") }.code, "lifecycle_invalid")

            // The pledge scheduled its visit at the deadline; the officer records that one.
            val fu = store.getCase(case.id).followUps.single { it.source == FollowUpSource.PLEDGE }.id
            val overdue = store.overdueFollowUps(null, T0 + 2 * DAY)
            eq(overdue.map { it.followUpId }, listOf(fu))
            check(overdue[0].overdue)
            store.recordFollowUp(case.id, fu, FollowUpInput(atMs = T0 + DAY - 1, by = "OF-1002", corrected = true, satisfaction = "satisfied"))
            eq(store.getCase(case.id).status, CaseStatus.CORRECTED)

            store.closeCase(case.id, OFFICER, T0 + DAY, "已整改结案")
            eq(store.getCase(case.id).status, CaseStatus.CLOSED)
            eq(store.openCases(null, 10u), emptyList())
            val closed = raises<FieldcaseException.CaseClosed> { store.addNote(case.id, OFFICER, T0, "late") }
            eq(closed.caseId, case.id)
        }
    }

    test("identity: the typed error's fields arrive, the form checks agree, the override registers a passport") {
        openStore("phone-id").use { store ->
            val typo = ID_NUMBER.dropLast(1) + (if (ID_NUMBER.endsWith("1")) "2" else "1")
            val e = raises<FieldcaseException.InvalidIdentity> {
                store.registerParty(NewParty(partyType = PartyType.PERSON, unit = UNIT, by = OFFICER, name = NAME, idNumber = typo))
            }
            eq(e.field, "id_number")
            eq(e.problem, IdentityProblem.CHECK_CHARACTER)
            eq(e.code, "id_number.check_character")
            check(e.message?.contains(typo) != true) { "the error quotes the number" }
            eq(validateIdNumber(typo, IdDocument.MAINLAND_ID)?.code, "id_number.check_character")
            eq(validateIdNumber(ID_NUMBER.lowercase(), IdDocument.MAINLAND_ID), null)
            eq(validatePhone("0564-3331234转8", IdDocument.MAINLAND_ID), null)
            eq(validatePhone("+44 20 7946 0958", IdDocument.MAINLAND_ID)?.problem, IdentityProblem.INTERNATIONAL)
            eq(defaultIdDocument(PartyType.UNIT), IdDocument.CREDIT_CODE)

            val passport = store.registerParty(
                NewParty(
                    partyType = PartyType.PERSON, unit = UNIT, by = OFFICER, name = NAME,
                    idNumber = "E12345678", phone = "+44 20 7946 0958", idDocument = IdDocument.PASSPORT,
                )
            )
            eq(passport.maskedPhone, "+44******0958")
            eq(store.partyDetails(passport.id).phone, "+442079460958")
        }
    }

    test("typed exceptions carry usable fields") {
        openStore("phone-a").use { store ->
            val party = register(store)
            val unknown = raises<FieldcaseException.InvalidInput> { store.createCase(newCase(store, party.id, code = "CG-XX-999")) }
            eq(unknown.field, "violation_code")
            check(unknown.message?.contains("violation_code") == true)

            val missing = "01900000-0000-7000-8000-000000000000"
            val nf = raises<FieldcaseException.NotFound> { store.getCase(missing) }
            eq(nf.kind to nf.id, "case" to missing)

            val noEducation = store.createCase(newCase(store, party.id, actions = emptyList()))
            val ne = raises<FieldcaseException.NotEligible> { store.grantExemption(noEducation.id, pledgedExemption(T0, T0 + DAY)) }
            eq(ne.reasons.size, 1)

            val second = store.createCase(newCase(store, party.id, at = T0 + 5 * DAY))
            // Above the statutory maximum: refused whatever the reason, with the server's code.
            val unlawful = raises<FieldcaseException.Refused> {
                store.decidePenalty(
                    second.id,
                    PenaltyRequest(
                        by = OFFICER, atMs = T0 + 5 * DAY, amountYuan = 1_000_000,
                        penalty = PenaltyKind.FINE, procedure = Procedure.SIMPLE,
                    ),
                )
            }
            eq(unlawful.code, "penalty_unlawful")

            // All of them are one sealed hierarchy an app can `when` over.
            val e: FieldcaseException = unknown
            val label = when (e) {
                is FieldcaseException.InvalidInput -> "field ${e.field}"
                is FieldcaseException.NotFound, is FieldcaseException.CaseClosed,
                is FieldcaseException.NotEligible,
                is FieldcaseException.NotAllowed, is FieldcaseException.Refused,
                is FieldcaseException.Malformed,
                is FieldcaseException.Storage, is FieldcaseException.StoreClosed,
                is FieldcaseException.Internal, is FieldcaseException.WrongKey,
                is FieldcaseException.StoreInUse, is FieldcaseException.InvalidIdentity,
                is FieldcaseException.Locked, is FieldcaseException.NotEnrolled,
                is FieldcaseException.Network, is FieldcaseException.CertificatePinMismatch,
                is FieldcaseException.Unauthorized,
                is FieldcaseException.ServerRefused, is FieldcaseException.SigningFailed,
                is FieldcaseException.Cancelled -> "other"
            }
            eq(label, "field violation_code")
            raises<FieldcaseException.InvalidInput> { FieldcaseStore.open(File(workDir, "bad.db").path, StoreOptions(deviceId = "x", partyMatchKey = ByteArray(3), plainStoreForTests = true)) }
        }
    }

    test("volunteer demonstration") {
        openStore("vol-a").use { store ->
            val d = store.recordDemonstration(
                NewDemonstration(
                    unit = "luan/jinan/volunteers",
                    team = "梅山路志愿服务队",
                    participants = listOf("VOL-0007", "VOL-0008"),
                    place = place(),
                    startedAtMs = T0,
                    endedAtMs = T0 + 3_600_000,
                    topic = "门前三包",
                    peoplePersuaded = 23,
                    by = "VOL-0007",
                )
            )
            eq(store.getDemonstration(d.id), d)
        }
    }

    test("phone-to-phone merge through bundles") {
        val a = openStore("phone-a")
        val b = openStore("phone-b")
        try {
            val party = register(a)
            val case = a.createCase(newCase(a, party.id))
            val report = b.importChanges(a.exportChanges(b.heads()))
            eq(report.changed.toSet(), setOf(party.id, case.id))
            a.addNote(case.id, OFFICER, T0 + 1, "A")
            b.appendAction(case.id, persuasion(T0 + 2))
            a.importChanges(b.exportChanges(a.heads()))
            b.importChanges(a.exportChanges(b.heads()))
            eq(a.getCase(case.id), b.getCase(case.id))
            eq(a.getCase(case.id).actions.size, 2)
            eq(b.importChanges(a.exportChanges(null)).unchanged, 2uL)
        } finally {
            a.close()
            b.close()
        }
    }

    test("lifetimes: closeStore, then AutoCloseable.close") {
        val store = openStore("phone-a", key = null)
        store.closeStore()
        raises<FieldcaseException.StoreClosed> { store.openCases(null, 1u) }
        store.closeStore()
        store.close()
        raises<IllegalStateException> { store.deviceId() }
        store.close() // twice is harmless
    }

    test("threads hammering one store") {
        openStore("phone-a").use { store ->
            val party = register(store)
            val errors = ConcurrentLinkedQueue<Throwable>()
            val threads = (0 until 8).map { n ->
                thread {
                    try {
                        repeat(10) { i ->
                            val c = store.createCase(newCase(store, party.id, at = T0 + n * 1000 + i))
                            store.addNote(c.id, OFFICER, T0, "note $n-$i")
                            store.openCases(null, 100u)
                            check(store.getCase(c.id).notes.size == 1)
                        }
                    } catch (t: Throwable) {
                        errors.add(t)
                    }
                }
            }
            threads.forEach { it.join() }
            check(errors.isEmpty()) { "errors: $errors" }
            eq(store.openCases(null, 1000u).size, 80)
            eq(store.integrityCheck(), "ok")
        }
    }

    test("server: enrol, sync with progress and a Kotlin signer, a second phone, errors, revocation") {
        serverFlow()
    }

    test("app API: suspend ingests on the library's threads, change listener, log sink, serverRestored") {
        appApiFlow()
    }

    test("messages: Chinese by default, English on request, codes and enum labels") {
        messageChecks()
    }

    println("$passed passed, $failed failed")
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}

/// The server binary sits beside the library the test loads.
fun serverBin(): String = File(System.getProperty("jna.library.path"), "fieldcase-server").path

fun admin(data: File, vararg args: String): String {
    val p = ProcessBuilder(serverBin(), "admin", "--data", data.path, "--json", *args)
        .redirectErrorStream(false).start()
    val out = p.inputStream.bufferedReader().readText()
    check(p.waitFor() == 0) { "admin ${args.toList()} failed: ${p.errorStream.bufferedReader().readText()}" }
    return out
}

fun codeFor(data: File, user: String): String =
    Regex("\"code\"\\s*:\\s*\"([^\"]+)\"").find(admin(data, "create-code", "--user", user))!!.groupValues[1]

/// Ed25519 from the JDK, standing in for a hardware keystore key.
class JdkSigner : Signer {
    private val pair = KeyPairGenerator.getInstance("Ed25519").generateKeyPair()
    val calls = java.util.concurrent.atomic.AtomicInteger()
    override fun publicKey(): ByteArray = pair.public.encoded.takeLast(32).toByteArray()
    override fun sign(message: ByteArray): ByteArray {
        calls.incrementAndGet()
        return JSignature.getInstance("Ed25519").run { initSign(pair.private); update(message); sign() }
    }
}

class Progress : SyncProgressListener {
    val events = ConcurrentLinkedQueue<SyncProgress>()
    val threads = ConcurrentLinkedQueue<String>()
    override fun onProgress(progress: SyncProgress) {
        events.add(progress)
        threads.add(Thread.currentThread().name)
    }
}

fun serverFlow() {
    val data = File(workDir, "server-${System.nanoTime()}")
    admin(data, "create-unit", "--path", "luan", "--name", "六安市")
    admin(data, "create-unit", "--path", "luan/jinan", "--name", "金安区")
    admin(data, "create-unit", "--path", UNIT, "--name", "一中队")
    admin(data, "create-user", "--id", OFFICER, "--name", "A", "--role", "officer", "--unit", UNIT)
    admin(data, "create-user", "--id", "OF-1003", "--name", "B", "--role", "officer", "--unit", UNIT)
    admin(data, "create-user", "--id", "OF-1002", "--name", "C", "--role", "officer", "--unit", UNIT)
    val port = ServerSocket(0).use { it.localPort }
    val url = "http://127.0.0.1:$port"
    val server = ProcessBuilder(serverBin(), "serve", "--data", data.path, "--listen", "127.0.0.1:$port")
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start()
    try {
        val deadline = System.nanoTime() + 30_000_000_000L
        while (true) {
            val up = try { (URL("$url/healthz").openConnection() as java.net.HttpURLConnection).responseCode == 200 } catch (e: Exception) { false }
            if (up) break
            check(System.nanoTime() < deadline) { "server did not start" }
            Thread.sleep(100)
        }
        // The platform key is installed before enrolment (so it is the key the server
        // registers) and again at every open.
        fun phone(user: String, name: String, signer: Signer? = null): Pair<FieldcaseStore, Enrolment> {
            val path = File(workDir, "$name-${System.nanoTime()}.db").path
            val enrolment = FieldcaseStore.open(path, StoreOptions(deviceId = name, dbKey = DB_KEY)).use { fresh ->
                signer?.let { fresh.setSigner(it) }
                runBlocking { fresh.enrol(url, codeFor(data, user), name) }
            }
            val store = FieldcaseStore.open(path, StoreOptions(deviceId = enrolment.deviceId, dbKey = DB_KEY))
            signer?.let { store.setSigner(it) }
            return store to enrolment
        }

        val signer = JdkSigner()
        val (a, enrolA) = phone(OFFICER, "phone-a", signer)
        eq(enrolA.role, "officer")
        eq(a.devicePublicKey().toList(), signer.publicKey().toList())
        val party = register(a)
        val case = a.createCase(newCase(a, party.id, actions = listOf(persuasion(T0), warning(T0 + 1000, T0 + DAY))))
        val sig = File(workDir, "sig-${System.nanoTime()}.png")
        javax.imageio.ImageIO.write(java.awt.image.BufferedImage(300, 120, java.awt.image.BufferedImage.TYPE_BYTE_GRAY), "png", sig)
        val entry = a.addSignatureImage(case.id, sig.path, CaptureInput(officer = OFFICER, deviceTimeMs = T0 + 2000, monotonicMs = 77L))
        eq(entry.kind, EvidenceKind.SIGNATURE)
        check(signer.calls.get() >= 1) { "the Kotlin signer was not called" }
        check(a.verifyCase(case.id).clean) { "verification: ${a.verifyCase(case.id).issues}" }

        val progress = Progress()
        val report = runBlocking { a.sync(progress, SyncCancel()) }
        check(report.complete && report.rejections.isEmpty()) { "report: $report" }
        eq(report.blobsUploaded >= 1u, true)
        eq(progress.events.first().phase, SyncPhase.RECORDS)
        eq(progress.events.last().phase, SyncPhase.DONE)
        // JNA names attached native threads itself; what matters is that none is ours.
        val me = Thread.currentThread().name
        check(progress.threads.none { it == me }) { "callbacks on the caller's thread ${progress.threads.toSet()}" }

        val (b, _) = phone("OF-1003", "phone-b")
        runBlocking { b.sync(null, null) }
        eq(b.getCase(case.id).evidenceCount, 1u)
        check(b.verifyCase(case.id).issues.all { it.kind == "blob_missing" }) { "B: ${b.verifyCase(case.id).issues}" }

        val cancel = SyncCancel()
        cancel.cancel()
        raises<FieldcaseException.Cancelled> { runBlocking { a.sync(null, cancel) } }
        FieldcaseStore.open(File(workDir, "lone-${System.nanoTime()}.db").path, StoreOptions(deviceId = "lone", plainStoreForTests = true)).use { lone ->
            raises<FieldcaseException.NotEnrolled> { runBlocking { lone.sync(null, null) } }
            val refused = raises<FieldcaseException.ServerRefused> { runBlocking { lone.enrol(url, "AAAA-BBBB-CCCC", "lone") } }
            eq(refused.status, 403.toUShort())
            // Enrolment options cross the binding: a malformed pin is refused before any
            // request, and a pin on plain http (nothing to check it against) is refused too.
            val bad = raises<FieldcaseException.InvalidInput> {
                runBlocking { lone.enrol(url, "AAAA-BBBB-CCCC", "lone", EnrolOptions(pins = listOf("sha256/short"))) }
            }
            eq(bad.field, "pin")
            val plain = raises<FieldcaseException.InvalidInput> {
                runBlocking { lone.enrol(url, "AAAA-BBBB-CCCC", "lone", EnrolOptions(pins = listOf("sha256/" + "A".repeat(43) + "="), extraRootsPem = null)) }
            }
            eq(plain.field, "pins")
            raises<FieldcaseException.NotEnrolled> { runBlocking { lone.sync(null, null) } }
        }

        admin(data, "revoke-device", "--id", enrolA.deviceId)
        val wiped = raises<FieldcaseException.Unauthorized> { runBlocking { a.sync(null, null) } }
        check(wiped.wiped) { "not wiped" }
        raises<FieldcaseException.StoreClosed> { a.openCases(null, 10u) }
        b.close()
        a.close()
    } finally {
        server.destroy()
        server.waitFor()
    }
}

class Changes(private val onBatch: (List<RecordChange>) -> Unit = {}) : ChangeListener {
    val batches = ConcurrentLinkedQueue<List<RecordChange>>()
    val threads = ConcurrentLinkedQueue<String>()
    override fun onChanges(changes: List<RecordChange>) {
        batches.add(changes)
        threads.add(Thread.currentThread().name)
        onBatch(changes)
    }
}

class Lines : LogSink {
    val records = ConcurrentLinkedQueue<LogRecord>()
    override fun log(record: LogRecord) {
        records.add(record)
    }
}

fun waitFor(what: String, cond: () -> Boolean) {
    val deadline = System.nanoTime() + 30_000_000_000L
    while (!cond()) {
        check(System.nanoTime() < deadline) { "timed out waiting for $what" }
        Thread.sleep(20)
    }
}

/// A photo with noise, so each is a different file and takes real work to ingest.
fun noisyJpeg(name: String, w: Int, h: Int, seed: Long): File {
    val img = java.awt.image.BufferedImage(w, h, java.awt.image.BufferedImage.TYPE_INT_RGB)
    val rnd = java.util.Random(seed)
    for (y in 0 until h step 4) for (x in 0 until w step 4) img.setRGB(x, y, rnd.nextInt())
    val f = File(workDir, "$name-${System.nanoTime()}.jpg")
    javax.imageio.ImageIO.write(img, "jpg", f)
    return f
}

fun appApiFlow() {
    // Several suspend ingests at once from one thread (runBlocking), while another coroutine
    // on that same thread keeps calling the store: it only runs if the ingests do not block.
    openStore("phone-async").use { store ->
        val case = store.createCase(newCase(store, null))
        val photos = (0 until 3).map { noisyJpeg("async-$it", 2000, 1500, it.toLong()) }
        val listener = Changes()
        store.setChangeListener(listener)
        var ticks = 0
        val views = runBlocking {
            val jobs = photos.mapIndexed { i, f ->
                async { store.addPhotoAsync(case.id, f.path, CaptureInput(officer = OFFICER, deviceTimeMs = T0 + i, monotonicMs = 5L)) }
            }
            val ticker = async {
                while (jobs.any { it.isActive }) {
                    store.getCase(case.id)
                    ticks++
                    delay(5)
                }
            }
            jobs.awaitAll().also { ticker.await() }
        }
        eq(views.map { it.kind }, List(3) { EvidenceKind.PHOTO })
        eq(views.map { it.sha256 }.toSet().size, 3)
        check(ticks >= 10) { "the caller's thread was blocked: $ticks ticks" }
        check(runBlocking { store.verifyCaseAsync(case.id) }.clean) { "verification" }
        val pdf = runBlocking { store.renderCaseFileAsync(case.id) }
        eq(String(pdf.copyOfRange(0, 5)), "%PDF-")
        val content = runBlocking { store.readEvidenceFileAsync(views[0].sha256) }
        check(content!!.contentEquals(store.readEvidenceFile(views[0].sha256)!!)) { "async read differs" }
        raises<FieldcaseException.NotFound> { runBlocking { store.verifyCaseAsync("no-such-case") } }

        // One batch per ingest, on a library thread, each naming the case as a local change.
        waitFor("three batches") { listener.batches.size >= 3 }
        check(listener.batches.all { b -> b == listOf(RecordChange(case.id, RecordKind.CASE, ChangeOrigin.LOCAL)) }) { "${listener.batches}" }
        val me = Thread.currentThread().name
        check(listener.threads.none { it == me }) { "listener on the caller's thread" }

        // A listener that reads the store back, and one that throws: neither breaks a write.
        val reloads = ConcurrentLinkedQueue<UInt>()
        store.setChangeListener(Changes { changes -> changes.forEach { reloads.add(store.getCase(it.recordId).evidenceCount) } })
        store.addNote(case.id, OFFICER, T0 + 10, "reloaded by the listener")
        waitFor("the reload") { reloads.isNotEmpty() }
        eq(reloads.first(), 3u)
        val thrower = Changes { throw IllegalStateException("listener bug") }
        store.setChangeListener(thrower)
        store.addNote(case.id, OFFICER, T0 + 11, "kept")
        store.addNote(case.id, OFFICER, T0 + 12, "kept too")
        waitFor("both batches despite the throw") { thrower.batches.size == 2 }
        eq(store.getCase(case.id).notes.size, 3)
        store.setChangeListener(null)
    }

    // Sync's log lines reach a Kotlin sink at its level, never below it.
    val data = File(workDir, "server-api-${System.nanoTime()}")
    admin(data, "create-unit", "--path", "luan", "--name", "六安市")
    admin(data, "create-unit", "--path", "luan/jinan", "--name", "金安区")
    admin(data, "create-unit", "--path", UNIT, "--name", "一中队")
    admin(data, "create-user", "--id", OFFICER, "--name", "A", "--role", "officer", "--unit", UNIT)
    admin(data, "create-user", "--id", "OF-1003", "--name", "B", "--role", "officer", "--unit", UNIT)
    // The case names a second officer (newCase): the server knows them, or refuses the case.
    admin(data, "create-user", "--id", "OF-1002", "--name", "C", "--role", "officer", "--unit", UNIT)
    val port = ServerSocket(0).use { it.localPort }
    val url = "http://127.0.0.1:$port"
    val server = ProcessBuilder(serverBin(), "serve", "--data", data.path, "--listen", "127.0.0.1:$port")
        .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start()
    try {
        waitFor("the server") {
            try { (URL("$url/healthz").openConnection() as java.net.HttpURLConnection).responseCode == 200 } catch (e: Exception) { false }
        }
        fun phone(user: String, name: String): FieldcaseStore {
            val path = File(workDir, "$name-${System.nanoTime()}.db").path
            val enrolment = FieldcaseStore.open(path, StoreOptions(deviceId = name, dbKey = DB_KEY)).use { fresh ->
                runBlocking { fresh.enrol(url, codeFor(data, user), name) }
            }
            return FieldcaseStore.open(path, StoreOptions(deviceId = enrolment.deviceId, dbKey = DB_KEY))
        }
        val a = phone(OFFICER, "phone-log-a")
        val case = a.createCase(newCase(a, register(a).id))
        val info = Lines()
        setLogSink(info, LogLevel.INFO)
        val report = runBlocking { a.sync(null, null) }
        check(report.complete && report.rejections.isEmpty()) { "report: $report" }
        eq(report.serverRestored, false)
        val finished = info.records.filter { it.message.startsWith("sync finished") }
        check(finished.isNotEmpty()) { "no sync line: ${info.records.map { it.message }}" }
        eq(finished[0].level, LogLevel.INFO)
        check(finished[0].target.startsWith("fieldcase_core")) { finished[0].target }
        check(info.records.all { it.level <= LogLevel.INFO }) { "below the level: ${info.records}" }
        check(info.records.none { it.message.contains(NAME) || it.message.contains(ID_NUMBER) }) { "personal data logged" }

        val warn = Lines()
        setLogSink(warn, LogLevel.WARN)
        val before = info.records.size
        runBlocking { a.sync(null, null) }
        check(warn.records.none { it.level == LogLevel.INFO || it.level == LogLevel.DEBUG }) { "below warn: ${warn.records}" }
        eq(info.records.size, before)
        setLogSink(null, LogLevel.ERROR)

        // Records a sync brings are announced with origin SYNC.
        val b = phone("OF-1003", "phone-log-b")
        val heard = Changes()
        b.setChangeListener(heard)
        runBlocking { b.sync(null, null) }
        waitFor("the sync's batches") { heard.batches.flatten().any { it.recordId == case.id } }
        val all = heard.batches.flatten()
        check(all.contains(RecordChange(case.id, RecordKind.CASE, ChangeOrigin.SYNC))) { "$all" }
        check(all.all { it.origin == ChangeOrigin.SYNC }) { "$all" }
        b.close()
        a.close()
    } finally {
        server.destroy()
        server.waitFor()
    }
}

/** Texts in the officer's language with stable codes; leaves the language as it found it. */
fun messageChecks() {
    val chinese = { t: String -> t.any { it.code in 0x4E00..0x9FFF } }
    eq(language(), Language.ZH_CN)
    openStore("phone-messages").use { store ->
        val party = register(store)
        val uneducated = store.createCase(newCase(store, party.id, actions = emptyList()))
        val ne = raises<FieldcaseException.NotEligible> { store.grantExemption(uneducated.id, pledgedExemption(T0, T0 + DAY)) }
        eq(ne.codes, listOf("condition.educated.unmet"))
        check(chinese(ne.reasons[0])) { "expected Chinese, got ${ne.reasons}" }
        eq(message(ne.codes[0], emptyMap(), Language.ZH_CN), ne.reasons[0])

        val unknown = raises<FieldcaseException.InvalidInput> { store.createCase(newCase(store, party.id, code = "CG-XX-999")) }
        eq(unknown.code, "invalid.violation_code")
        check(chinese(unknown.reason))

        setLanguage(Language.EN)
        try {
            val en = raises<FieldcaseException.NotEligible> { store.grantExemption(uneducated.id, pledgedExemption(T0, T0 + DAY)) }
            eq(en.reasons, listOf("Record guidance, persuasion or a warning first (education is required)"))
            check(store.checkExemption(uneducated.id, true, true, true).conditions.none { chinese(it.detail) })
        } finally {
            setLanguage(Language.ZH_CN)
        }
    }
    for (m in ActionMethod.values()) {
        val zh = enumLabel("action_method", m.name.lowercase(), Language.ZH_CN)
        val en = enumLabel("action_method", m.name.lowercase(), Language.EN)
        check(zh != null && chinese(zh)) { "no Chinese label for $m" }
        check(en != null && !chinese(en)) { "no English label for $m" }
    }
    eq(enumLabel("case_status", CaseStatus.PENDING_REVIEW.name.lowercase(), Language.ZH_CN), "待法制审核")
    val table = labels(Language.EN).associate { (it.enumName to it.value) to it.text }
    eq(table["document_kind" to "penalty_decision"], "Penalty decision")
    eq(message("error.too_large", mapOf("limit" to "10"), Language.EN), "The data exceeds the limit of 10 bytes; nothing was merged")
    eq(message("no.such.code", emptyMap(), Language.EN), null)
}
