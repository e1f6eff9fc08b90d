#!/usr/bin/python3
"""Writes the native demo's bundled inputs into DIR (default build/demo/native):
pictures (PNG and JPEG, drawn with Pillow) and WAV files (16 kHz mono: silence, then a voiced
sound, harmonics of a gliding 140 Hz pitch under a syllable-rate envelope, then silence; and one
at 44.1 kHz, which the demo must refuse with the reason)."""
import math
import os
import struct
import sys
import wave

from PIL import Image, ImageDraw


def pictures(out):
    img = Image.new("RGB", (320, 240), (246, 211, 101))
    d = ImageDraw.Draw(img)
    for y in range(240):
        d.line([(0, y), (320, y)], fill=(246, 211 - y // 4, 101 + y // 3))
    d.ellipse([100, 60, 220, 180], fill=(43, 88, 118))
    d.rectangle([30, 20, 90, 60], fill=(255, 255, 255))
    img.save(os.path.join(out, "sunset.png"))
    img2 = Image.new("RGB", (256, 384), (20, 120, 60))
    d2 = ImageDraw.Draw(img2)
    for i in range(0, 256, 32):
        d2.rectangle([i, 0, i + 15, 384], fill=(200, 200, 40))
    d2.polygon([(128, 40), (220, 340), (36, 340)], fill=(180, 30, 30))
    img2.save(os.path.join(out, "stripes.jpg"), quality=90)


def write_wav(path, rate, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", max(-32767, min(32767, int(s * 32767)))) for s in samples))


def voiced(rate, seconds):
    out = []
    phase = 0.0
    for n in range(int(rate * seconds)):
        t = n / rate
        f0 = 140 + 30 * math.sin(2 * math.pi * 0.7 * t)
        phase += 2 * math.pi * f0 / rate
        env = 0.5 * (1 - math.cos(2 * math.pi * min(1.0, 4.0 * t % 1.0)))  # ~4 syllables a second
        s = sum(math.sin(k * phase) / k * (1.0 if 300 < k * f0 < 3400 else 0.3) for k in range(1, 20))
        out.append(0.25 * env * s)
    return out


def main(out="build/demo/native"):
    os.makedirs(out, exist_ok=True)
    pictures(out)
    rate = 16000
    silence = [0.0] * rate
    write_wav(os.path.join(out, "speech16k.wav"), rate, silence + voiced(rate, 1.5) + silence)
    write_wav(os.path.join(out, "silence16k.wav"), rate, silence * 2)
    write_wav(os.path.join(out, "cd44k.wav"), 44100, [0.0] * 44100)
    print(f"demo inputs in {out}: sunset.png stripes.jpg speech16k.wav silence16k.wav cd44k.wav")


if __name__ == "__main__":
    main(*sys.argv[1:])
