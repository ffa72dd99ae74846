"""Video in and out with PyAV (FFmpeg): stream RGB frames from anything FFmpeg reads, write mp4 (H.264) or webm.

Frames stream one at a time (memory does not grow with the clip). The audio track is copied packet by
packet when the output container takes its codec (AAC/MP3/Opus in mp4, Opus/Vorbis in webm) and re-encoded
otherwise; rotation metadata is carried over. Output goes to a hidden temporary name in the same folder and
is renamed only when complete, so an error or Ctrl-C never leaves a half-written file under the final name.
"""
from __future__ import annotations

import contextlib
import os
import warnings
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import av
import numpy as np

from ..errors import BrushworkError

# output suffix -> (container format, video encoder, audio codecs it takes as they are, audio encoder)
FORMATS = {".mp4": ("mp4", "libx264", {"aac", "mp3", "opus", "ac3"}, "aac"),
           ".m4v": ("mp4", "libx264", {"aac", "mp3", "opus", "ac3"}, "aac"),
           ".mov": ("mov", "libx264", {"aac", "mp3", "alac", "pcm_s16le"}, "aac"),
           ".webm": ("webm", "libvpx-vp9", {"opus", "vorbis"}, "libopus"),
           ".mkv": ("matroska", "libx264", {"aac", "mp3", "opus", "vorbis", "flac", "ac3"}, "libopus")}


@dataclass
class VideoInfo:
    """What a clip is: frame size as stored, frame rate, frame count (if the container says), rotation, audio."""
    width: int
    height: int
    rate: Fraction
    frames: int
    rotation: int
    audio: str | None


def _open(path: Path):
    """av.open with FFmpeg's complaints turned into one-line errors (not a video, truncated, damaged)."""
    if not path.is_file():
        raise BrushworkError(f"{path}: no such file")
    try:
        return av.open(str(path), metadata_errors="ignore")
    except av.error.FFmpegError as exc:
        raise BrushworkError(f"{path}: not a readable video (truncated or not a video file: {exc.strerror})") from None


def probe(path: str | Path) -> VideoInfo:
    """Open a clip and describe its first video stream; an audio-only or empty file is an error."""
    path = Path(path).expanduser()
    with _open(path) as c:
        if not c.streams.video:
            kind = "an audio-only file" if c.streams.audio else "not a video"
            raise BrushworkError(f"{path}: {kind} (no video stream)")
        v = c.streams.video[0]
        rate = v.average_rate or v.guessed_rate or Fraction(25)
        audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
        rotation = 0
        with contextlib.suppress(av.error.FFmpegError, StopIteration):
            rotation = int(next(c.decode(v)).rotation or 0)
        return VideoInfo(v.codec_context.width, v.codec_context.height, Fraction(rate), int(v.frames or 0),
                         rotation, audio)


class Reader:
    """Iterates (rgb uint8 HxWx3, pts, time_base) over the video, handing audio packets to `on_audio`.

    A context manager: the container stays open while frames stream (`audio_stream` is the template for
    copying the sound). A packet that fails to decode is skipped with a warning and counted in `skipped`;
    a container that breaks off in the middle of its data (truncated) is an error, and so is a clip that
    yields no frame at all.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path).expanduser()
        self.info = probe(self.path)
        self.on_audio = None
        self.skipped = 0
        self.decoded = 0
        self.c = None

    def __enter__(self):
        self.c = _open(self.path)
        self.audio_stream = self.c.streams.audio[0] if self.c.streams.audio else None
        return self

    def __exit__(self, *exc):
        self.c.close()
        return False

    def __iter__(self) -> Iterator[tuple[np.ndarray, int | None, Fraction]]:
        v = self.c.streams.video[0]
        v.thread_type = "AUTO"
        streams = [v] + ([self.audio_stream] if self.on_audio and self.audio_stream is not None else [])
        packets = self.c.demux(*streams)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError as exc:
                raise BrushworkError(f"{self.path}: damaged or truncated after frame {self.decoded} "
                                     f"({exc.strerror})") from None
            if packet.stream.type == "audio":
                if packet.dts is not None:
                    self.on_audio(packet)
                continue
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:
                self.skipped += 1
                warnings.warn(f"{self.path}: skipped a frame that failed to decode ({exc.strerror})")
                continue
            for frame in frames:
                self.decoded += 1
                yield frame.to_ndarray(format="rgb24"), frame.pts, frame.time_base or v.time_base
        if self.decoded == 0:
            raise BrushworkError(f"{self.path}: the video has no frames")


def check_output(path: str | Path, overwrite: bool = False) -> Path:
    """Fail early, touching nothing, on an unknown suffix, an existing file (without overwrite) or a bad folder."""
    from ..core.images import check_writable

    return check_writable(path, overwrite, FORMATS, "video")


class Writer:
    """Encodes RGB frames to a temporary file beside `path`; `commit()` renames it into place, `close()` drops it.

    Use as a context manager: leaving the block by an exception (or Ctrl-C) deletes the temporary file.
    """

    def __init__(self, path: str | Path, width: int, height: int, rate: Fraction, time_base: Fraction,
                 rotation: int = 0, audio_template=None, overwrite: bool = False, crf: int = 20):
        self.path = check_output(path, overwrite)
        fmt, vcodec, copyable, acodec = FORMATS[self.path.suffix.lower()]
        self.tmp = self.path.with_name(f".{self.path.stem}.part{self.path.suffix}")
        try:
            self.c = av.open(str(self.tmp), "w", format=fmt)
        except (OSError, av.error.FFmpegError) as exc:
            raise BrushworkError(f"cannot write {self.path} ({exc})") from None
        self.v = self.c.add_stream(vcodec, rate=rate)
        self.v.width, self.v.height, self.v.pix_fmt = width, height, "yuv420p"
        self.v.time_base = time_base
        self.v.options = {"crf": str(crf)} if vcodec == "libx264" else {"crf": str(crf + 12), "b": "0",
                                                                          "row-mt": "1", "deadline": "realtime",
                                                                          "cpu-used": "8"}
        if vcodec == "libx264":
            self.v.options["preset"] = "veryfast"
        if rotation:
            self.v.set_display_rotation(rotation)
        self.a = None
        self.audio_copied = False
        if audio_template is not None:
            if audio_template.codec_context.name in copyable:
                self.a = self.c.add_stream_from_template(audio_template)
                self.audio_copied = True
            else:  # the container does not take this codec: decode and re-encode the sound
                self.a = self.c.add_stream(acodec, rate=48000 if acodec == "libopus" else audio_template.rate)
        self.frames = 0
        try:
            self.c.start_encoding()  # opens the file now: an unwritable place fails before any work is done
        except (OSError, av.error.FFmpegError) as exc:
            self.close()
            raise BrushworkError(f"cannot write {self.path} ({exc})") from None

    def _mux(self, packets) -> None:
        try:
            self.c.mux(packets)
        except (OSError, av.error.FFmpegError) as exc:
            raise BrushworkError(f"cannot write {self.path} ({exc})") from None

    def audio(self, packet) -> None:
        """Mux one audio packet of the input: copied as it is, or decoded and re-encoded."""
        if self.a is None:
            return
        if self.audio_copied:
            packet.stream = self.a
            self._mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None
            self._mux(self.a.encode(frame))

    def write(self, rgb: np.ndarray, pts: int | None = None, time_base: Fraction | None = None) -> None:
        """Encode one HxWx3 uint8 frame (its input timestamp kept so the timing is the input's)."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        if pts is not None:
            frame.pts, frame.time_base = pts, time_base
        self._mux(self.v.encode(frame))
        self.frames += 1

    def commit(self) -> Path:
        """Flush the encoders, close the file and rename it to the final name."""
        try:
            self.c.mux(self.v.encode(None))
            if self.a is not None and not self.audio_copied:
                self.c.mux(self.a.encode(None))
            self.c.close()
            os.replace(self.tmp, self.path)
        except (OSError, av.error.FFmpegError) as exc:
            raise BrushworkError(f"cannot write {self.path} ({exc})") from None
        finally:
            self.close()
        return self.path

    def close(self) -> None:
        """Drop the temporary file (a no-op after commit)."""
        with contextlib.suppress(Exception):
            self.c.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp.unlink()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False
