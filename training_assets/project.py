"""Where the project lives: the repository's root, under which every default points."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
