"""Hostile files: what a malicious or broken uploader sends instead of audio. Every one must be
refused by the API (4xx) or dead-lettered by the pipeline, and none may make the decoder read
anything but the file itself.

Kinds: playlists and manifests of every sort ffmpeg's demuxers and protocols know (HLS, concat,
ffconcat, DASH, SDP, RTSP/RTP/HTTP/data URLs, subfile, M3U/PLS), files of other types under
audio names, truncated and zero-length audio, audio longer or shorter than the limits, lying
headers and video without sound.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from corpus import synth

RATE = 22050
EXTENSIONS = ("", ".mp3", ".wav", ".flac", ".m4a", ".ogg", ".m3u8")


@dataclass(frozen=True)
class HostileFile:
    kind: str
    path: Path


def _text(body: str) -> Callable[[Path, Path], bytes]:
    return lambda folder, secret: (
        body.replace("{secret}", str(secret)).replace("{folder}", str(folder)).encode()
    )


def _bytes(body: bytes) -> Callable[[Path, Path], bytes]:
    return lambda folder, secret: body


_HLS_VOD = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\n{secret}\n#EXT-X-ENDLIST\n"
_HLS_LIVE = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:10.0,\n{secret}\n"
_HLS_FILE_URL = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile://{secret}\n#EXT-X-ENDLIST\n"
_HLS_HTTP = "#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nhttp://127.0.0.1:9/a.ts\n#EXT-X-ENDLIST\n"
_HLS_NESTED = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n{folder}/other.m3u8\n"
_CONCAT = "ffconcat version 1.0\nfile '{secret}'\n"
_CONCAT_PLAIN = "file '{secret}'\nfile '/etc/passwd'\n"
_DASH = (
    '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
    'mediaPresentationDuration="PT10S"><Period><AdaptationSet mimeType="audio/mp4"><Representation '
    'id="a" bandwidth="1"><BaseURL>file://{secret}</BaseURL></Representation></AdaptationSet></Period></MPD>'
)
_SDP = "v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 5004 RTP/AVP 0\n"
_KINDS: dict[str, Callable[[Path, Path], bytes]] = {
    "hls_vod_local_file": _text(_HLS_VOD),
    "hls_live_no_endlist": _text(_HLS_LIVE),
    "hls_file_url": _text(_HLS_FILE_URL),
    "hls_http_segment": _text(_HLS_HTTP),
    "hls_nested_variant": _text(_HLS_NESTED),
    "ffconcat_list": _text(_CONCAT),
    "concat_list_passwd": _text(_CONCAT_PLAIN),
    "dash_manifest": _text(_DASH),
    "sdp_rtp_session": _text(_SDP),
    "m3u_plain_list": _text("#EXTM3U\n#EXTINF:10,x\n{secret}\n/etc/passwd\n"),
    "pls_playlist": _text("[playlist]\nFile1={secret}\nNumberOfEntries=1\nVersion=2\n"),
    "rtsp_url_text": _text("rtsp://127.0.0.1:9/stream\n"),
    "data_uri_text": _text(
        "data:audio/wav;base64,UklGRiQAAABXQVZFZm10IBAAAAABAAEAIlYAAESsAAACABAAZGF0YQAAAAA=\n"
    ),
    "subfile_url_text": _text("subfile,,start,0,end,100,,:{secret}\n"),
    "zero_length": _bytes(b""),
    "one_byte": _bytes(b"\x00"),
    "plain_text": _text("this is not audio, it is a shopping list\n" * 20),
    "html_page": _text("<!doctype html><html><body><audio src='{secret}'></audio></body></html>"),
    "json_document": _text('{"audio": "{secret}", "nested": [[[[[[[[[[]]]]]]]]]]}'),
    "pdf_header": _bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"),
    "zip_archive": _bytes(b"PK\x05\x06" + b"\x00" * 18),
    "png_image": _bytes(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde"
        b"\x00\x00\x00\x0cIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
    ),
    "id3_then_noise": _bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + np.random.default_rng(1).bytes(4096)),
    "flac_magic_then_noise": _bytes(b"fLaC" + np.random.default_rng(2).bytes(4096)),
    "ogg_magic_then_noise": _bytes(b"OggS" + np.random.default_rng(3).bytes(4096)),
    "riff_header_garbage": _bytes(b"RIFF\xff\xff\xff\x7fWAVEfmt " + np.random.default_rng(4).bytes(2048)),
    "wav_header_only": _bytes(
        b'RIFF$\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00"V\x00\x00D\xac\x00\x00\x02\x00\x10\x00'
        b"data\x00\x00\x00\x00"
    ),
    "wav_zero_channels": _bytes(
        b'RIFF$\x10\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x00\x00"V\x00\x00D\xac\x00\x00\x02\x00\x10\x00'
        b"data\x00\x10\x00\x00" + b"\x00" * 4096
    ),
    "random_bytes": _bytes(np.random.default_rng(5).bytes(65536)),
}
# Made with ffmpeg or soundfile rather than written by hand.
_MADE = ("truncated_mp3", "truncated_flac", "too_short_audio", "hour_of_silence", "video_without_audio")


def _make(kind: str, path: Path, good: Path) -> None:
    if kind == "truncated_mp3":
        full = path.with_suffix(".full.mp3")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(good), str(full)], check=True)
        path.write_bytes(full.read_bytes()[:600])
        full.unlink()
    elif kind == "truncated_flac":
        full = path.with_suffix(".full.flac")
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(good), str(full)], check=True)
        path.write_bytes(full.read_bytes()[:300])
        full.unlink()
    elif kind == "too_short_audio":
        soundfile.write(path, np.zeros(RATE // 10, dtype=np.float32), RATE, format="WAV")
    elif kind == "hour_of_silence":  # over the 30-minute limit
        soundfile.write(path, np.zeros(8000 * 3600, dtype=np.int16), 8000, format="WAV", subtype="PCM_16")
    elif kind == "video_without_audio":
        subprocess.run(
            [
                "ffmpeg",
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc=duration=2:size=64x64:rate=5",
                "-f",
                "mp4",
                str(path),
            ],
            check=True,
        )


def make_files(folder: Path, count: int) -> list[HostileFile]:
    """`count` hostile files, cycling through the kinds and the audio-like names they hide under.
    `secret.wav` beside them is what a file-reading playlist would try to reach."""
    folder.mkdir(parents=True, exist_ok=True)
    secret = synth.write(folder / "secret.wav", synth.song(seed=99, seconds=12))
    (folder / "other.m3u8").write_text(_HLS_VOD.replace("{secret}", str(secret)))
    kinds = [*_KINDS, *_MADE]
    made: list[HostileFile] = []
    for n in range(count):
        kind = kinds[n % len(kinds)]
        if kind == "hour_of_silence" and n >= len(kinds):
            kind = "too_short_audio"  # one hour-long file is enough
        path = folder / f"hostile-{n:04d}-{kind}{EXTENSIONS[n % len(EXTENSIONS)]}"
        if kind in _KINDS:
            path.write_bytes(_KINDS[kind](folder, secret))
        else:
            _make(kind, path, secret)
        made.append(HostileFile(kind, path))
    return made
