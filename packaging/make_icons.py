"""Draw the application icon at every size a desktop asks for (run once; the PNGs are committed).

A dark rounded tile, a face-like disc lit from the side, and an orange
keyframe diamond: the app's three ideas (images, latents, timeline).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
OUT = Path(__file__).resolve().parent.parent / "resources" / "icons"


def draw(size: int) -> Image.Image:
    scale = 4  # draw large, then downsample for clean edges
    s = size * scale
    image = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(image)
    d.rounded_rectangle((0, 0, s - 1, s - 1), radius=s // 5, fill=(34, 36, 44, 255))
    disc = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    dd = ImageDraw.Draw(disc)
    for i in range(40):  # a soft radial gradient: the "face"
        t = i / 39
        r = int(s * (0.36 - 0.30 * t))
        c = (int(90 + 150 * t), int(120 + 100 * t), int(200 - 40 * t), 255)
        cx, cy = int(s * (0.44 - 0.05 * t)), int(s * (0.46 - 0.05 * t))
        dd.ellipse((cx - r, cy - r, cx + r, cy + r), fill=c)
    image.alpha_composite(disc.filter(ImageFilter.GaussianBlur(s / 200)))
    cx, cy, r = int(s * 0.74), int(s * 0.76), int(s * 0.15)
    d.polygon([(cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy)], fill=(255, 170, 60, 255), outline=(20, 20, 24, 255),
              width=max(1, s // 64))
    return image.resize((size, size), Image.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        draw(size).save(OUT / f"latent-studio-{size}.png", optimize=True)
    draw(256).save(OUT / "latent-studio.ico", sizes=[(s, s) for s in SIZES if s <= 256])
    print(f"wrote {len(SIZES)} PNGs and an .ico to {OUT}")


if __name__ == "__main__":
    main()
