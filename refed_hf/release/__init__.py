"""Releasing: writing a release to disk, its manifest and statistics, and publishing it to the Hub."""
