"""The simulated VGA text console of a VM, drawn with Pillow, and its pixels in an RFB pixel format."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

WIDTH = 640
HEIGHT = 400
BACKGROUND = (0, 0, 0)
FOREGROUND = (170, 170, 170)
LINE_HEIGHT = 20
MARGIN = 8


def console_lines(name: str, vmid: int) -> list[str]:
    """Return the text a VM's console shows: its name and id, then a login prompt."""
    return [f"{name} (VM {vmid})", "", "Debian GNU/Linux (pvesim) tty1", "", f"{name} login:"]


@lru_cache(maxsize=256)
def render_console(name: str, vmid: int) -> Image.Image:
    """Return the console of VM `vmid` named `name` as an RGB image (WIDTH x HEIGHT)."""
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=16)
    for row, text in enumerate(console_lines(name, vmid)):
        draw.text((MARGIN, MARGIN + row * LINE_HEIGHT), text, fill=FOREGROUND, font=font)
    return image


@dataclass(frozen=True)
class PixelFormat:
    """An RFB PIXEL_FORMAT (RFC 6143 §7.4)."""

    bits_per_pixel: int = 32
    depth: int = 24
    big_endian: bool = False
    true_colour: bool = True
    red_max: int = 255
    green_max: int = 255
    blue_max: int = 255
    red_shift: int = 16
    green_shift: int = 8
    blue_shift: int = 0

    def pack(self) -> bytes:
        """Return the 16-byte wire form."""
        head = struct.pack(">BBBB", self.bits_per_pixel, self.depth, int(self.big_endian), int(self.true_colour))
        maxima = struct.pack(">HHH", self.red_max, self.green_max, self.blue_max)
        return head + maxima + struct.pack(">BBBxxx", self.red_shift, self.green_shift, self.blue_shift)

    @classmethod
    def unpack(cls, data: bytes) -> PixelFormat:
        """Parse the 16-byte wire form."""
        return cls(
            bits_per_pixel=data[0],
            depth=data[1],
            big_endian=bool(data[2]),
            true_colour=bool(data[3]),
            red_max=int.from_bytes(data[4:6], "big"),
            green_max=int.from_bytes(data[6:8], "big"),
            blue_max=int.from_bytes(data[8:10], "big"),
            red_shift=data[10],
            green_shift=data[11],
            blue_shift=data[12],
        )

    @property
    def supported(self) -> bool:
        """True for 32-bit true colour with 8-bit channels on byte boundaries (what noVNC and vncdotool ask for)."""
        shifts = {self.red_shift, self.green_shift, self.blue_shift}
        return (
            self.bits_per_pixel == 32
            and self.true_colour
            and (self.red_max, self.green_max, self.blue_max) == (255, 255, 255)
            and len(shifts) == 3
            and shifts <= {0, 8, 16, 24}
        )


SERVER_FORMAT = PixelFormat()  # QEMU's default for a 24-bit display: 32 bpp, little endian, 0x00RRGGBB


def pixel_bytes(image: Image.Image, fmt: PixelFormat, box: tuple[int, int, int, int] | None = None) -> bytes:
    """Return the pixels of `image` (or of `box` = x, y, w, h in it) in the 32-bit true-colour format `fmt`."""
    if box is not None:
        x, y, w, h = box
        image = image.crop((x, y, x + w, y + h))
    red, green, blue = image.split()
    padding = Image.new("L", image.size, 0)
    # Byte k of a little-endian pixel holds bits 8k..8k+7; big endian reverses the order.
    order = [padding] * 4
    for band, shift in ((red, fmt.red_shift), (green, fmt.green_shift), (blue, fmt.blue_shift)):
        order[shift // 8] = band
    if fmt.big_endian:
        order.reverse()
    return Image.merge("RGBA", order).tobytes()


def image_from_pixels(data: bytes, size: tuple[int, int], fmt: PixelFormat) -> Image.Image:
    """Return the RGB image that `data` (32-bit true-colour pixels in `fmt`) encodes."""
    bands = Image.frombytes("RGBA", size, data).split()
    if fmt.big_endian:
        bands = bands[::-1]
    return Image.merge("RGB", [bands[fmt.red_shift // 8], bands[fmt.green_shift // 8], bands[fmt.blue_shift // 8]])
