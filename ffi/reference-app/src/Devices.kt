// What the phone's camera, recorder and signing pad hand the app: real files in real formats.
//
// JVM-only stand-ins (javax.imageio, javax.sound): on Android these files come from CameraX,
// MediaRecorder and a signature view, saved into the app's cache and handed to
// CaseRepository by path.

import java.awt.BasicStroke
import java.awt.Color
import java.awt.RenderingHints
import java.awt.image.BufferedImage
import java.io.ByteArrayInputStream
import java.io.File
import javax.imageio.IIOImage
import javax.imageio.ImageIO
import javax.imageio.ImageWriteParam
import javax.sound.sampled.AudioFileFormat
import javax.sound.sampled.AudioFormat
import javax.sound.sampled.AudioInputStream
import javax.sound.sampled.AudioSystem
import kotlin.math.PI
import kotlin.math.sin

object Devices {
    /** A JPEG as a camera writes one: a street scene's worth of detail, quality 0.88. */
    fun camera(file: File, width: Int = 1600, height: Int = 1200): File {
        file.parentFile.mkdirs()
        val img = BufferedImage(width, height, BufferedImage.TYPE_INT_RGB)
        val g = img.createGraphics()
        for (y in 0 until height step 8) for (x in 0 until width step 8) {
            g.color = Color((x * 7) % 256, (y * 3) % 256, (x + y) % 256)
            g.fillRect(x, y, 8, 8)
        }
        g.color = Color.WHITE
        g.fillRect(width / 4, height / 3, width / 2, height / 4) // the stall's awning
        g.dispose()
        val writer = ImageIO.getImageWritersByFormatName("jpeg").next()
        val param = writer.defaultWriteParam.apply {
            compressionMode = ImageWriteParam.MODE_EXPLICIT
            compressionQuality = 0.88f
        }
        ImageIO.createImageOutputStream(file).use { out ->
            writer.output = out
            writer.write(null, IIOImage(img, null, null), param)
        }
        writer.dispose()
        return file
    }

    /** A mono 16-bit PCM WAV at 8 kHz, as a voice recorder keeps it. */
    fun recorder(file: File, seconds: Int = 3): File {
        file.parentFile.mkdirs()
        val rate = 8000f
        val pcm = ByteArray(seconds * rate.toInt() * 2)
        for (i in 0 until seconds * rate.toInt()) {
            val s = (6000 * sin(2 * PI * 440 * i / rate) * sin(PI * i / (rate / 2))).toInt().toShort()
            pcm[2 * i] = (s.toInt() and 0xff).toByte()
            pcm[2 * i + 1] = (s.toInt() shr 8).toByte()
        }
        val format = AudioFormat(rate, 16, 1, true, false)
        AudioInputStream(ByteArrayInputStream(pcm), format, pcm.size / 2L).use {
            AudioSystem.write(it, AudioFileFormat.Type.WAVE, file)
        }
        return file
    }

    /** The party's signature from the signing pad: dark strokes on white, PNG. */
    fun signingPad(file: File): File {
        file.parentFile.mkdirs()
        val img = BufferedImage(480, 160, BufferedImage.TYPE_INT_RGB)
        val g = img.createGraphics()
        g.color = Color.WHITE
        g.fillRect(0, 0, 480, 160)
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON)
        g.color = Color.DARK_GRAY
        g.stroke = BasicStroke(4f)
        val xs = IntArray(40) { 30 + it * 11 }
        val ys = IntArray(40) { (80 + 40 * sin(it / 3.0)).toInt() }
        g.drawPolyline(xs, ys, xs.size)
        g.dispose()
        ImageIO.write(img, "png", file)
        return file
    }
}
