"""What every runtime is: binds host folders, prepares once, runs argv lists."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path

from patchkit import image

_counter = itertools.count(1)


@dataclass(frozen=True)
class Mount:
    host: Path
    container: str
    read_only: bool = False


class Runtime:
    name = "?"

    def __init__(self) -> None:
        self.mounts: list[Mount] = []
        self.image_id: str | None = None
        self.image: str | None = None

    def bind(self, host: Path, container: str, *, read_only: bool = False) -> str:
        raise NotImplementedError

    def path_env(self) -> str:
        """PATH for build commands: ccache's compiler wrappers first."""
        raise NotImplementedError

    def prepare(self) -> None:
        pass

    def run(self, argv: list[str], *, cwd: str, env: dict[str, str], log: Path) -> int:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ContainerRuntime(Runtime):
    def __init__(self, image_ref: str = image.NAME) -> None:
        super().__init__()
        self.image = image_ref

    def bind(self, host: Path, container: str, *, read_only: bool = False) -> str:
        self.mounts.append(Mount(Path(host), container, read_only))
        return container

    def path_env(self) -> str:
        return image.IMAGE_PATH

    @staticmethod
    def container_name() -> str:
        return f"patchkit-build-{os.getpid()}-{next(_counter)}"
