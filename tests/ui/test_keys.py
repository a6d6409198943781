"""Keys and looks the operator keeps: j/k/g/G in every list, the saved theme and --theme, keymap.toml."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from uikit import domain_key, help_text, notifications, settings_for, settle, started

from ectui.app import ConsoleApp
from ectui.screens.images import ImageTable
from ectui.screens.projects import ProjectsScreen
from ectui.services import ConsoleServices, build_console_services, build_issuer_services
from ectui.services.images import ImageInfo
from ectui.services.issuer import EditionDraft, LicenseDraft
from ectui.services.projects import ProjectDraft
from ectui.tui import run_console
from ectui.widgets import ConfirmModal, HelpModal
from ectui.widgets.literal import Label


@pytest.fixture
async def licensed(tmp_path: Path) -> AsyncIterator[ConsoleServices]:
    issuer = build_issuer_services(settings_for(tmp_path / "issuer"))
    await issuer.start()
    await issuer.issuer.create_edition(
        EditionDraft.parse(name="Std", max_clusters="2", max_nodes="10", storage="local", features="platform")
    )
    today = dt.date.today()
    lic = await issuer.issuer.create_license(
        LicenseDraft.parse(customer="ACME", edition="Std", valid_from=today.isoformat(),
                           valid_to=(today + dt.timedelta(days=30)).isoformat())
    )  # fmt: skip
    result = await issuer.issuer.export_license(lic.id, tmp_path / "a.ec", tmp_path / "a.properties")
    issuer.close()
    console = build_console_services(settings_for(tmp_path / "console"))
    await console.start()
    await console.license.import_license(result.ec_path, result.properties_path)
    for name in ("alpha", "beta", "gamma", "delta"):
        await console.projects.add(ProjectDraft.parse(name=name, vcpus="4", ram_gb="8", vms="2"))
    yield console
    console.close()


async def test_vi_keys_move_the_cursor_in_a_data_table_and_ctrl_d_still_deletes(
    licensed: ConsoleServices,
) -> None:
    app = ConsoleApp(licensed)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press(domain_key(app, "projects"))
        await settle(pilot, lambda: isinstance(app.screen, ProjectsScreen))
        screen = app.screen
        assert isinstance(screen, ProjectsScreen)
        await settle(pilot, lambda: screen.table.row_count == 4)
        table = screen.table
        assert table.cursor_row == 0
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 3
        await pilot.press("g")
        assert table.cursor_row == 0
        await pilot.press("G", "ctrl+u")  # half a page up (not taken by the Projects screen)
        assert table.cursor_row == 0
        # the screen's Ctrl+D (delete) wins over the list's half-page key
        await pilot.press("ctrl+d")
        await settle(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("escape")
        await settle(pilot, lambda: app.screen is screen)
        await pilot.press("question_mark")
        await settle(pilot, lambda: isinstance(app.screen, HelpModal))
        text = help_text(app.screen)
        assert "j Next row" in text and "G Last row" in text and "^u Half a page up" in text
        assert "^d Delete" in text and "Half a page down" not in text


class ImageTableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ImageTable(id="table")


def image(n: int) -> ImageInfo:
    return ImageInfo(
        id=n, cluster="dc1", cloud_id=f"c{n}", name=f"img-{n:02d}", disk_format="qcow2",
        container_format="bare", size=1 << 20, checksum="", status="active", visibility="private",
        os_type="linux", min_disk=0, min_ram=0, source="synced", enabled=True, gone=False,
        uploaded_by="", created="2030-01-01T00:00:00Z", synced_at=dt.datetime(2030, 1, 1),
    )  # fmt: skip


async def test_vi_keys_move_the_cursor_in_the_image_table() -> None:
    app = ImageTableApp()
    async with app.run_test(size=(80, 12)) as pilot:
        table = app.query_one(ImageTable)
        table.set_images([image(n) for n in range(30)])
        table.focus()
        await pilot.pause()
        await pilot.press("j", "j", "j")
        assert table.cursor == 3
        await pilot.press("k")
        assert table.cursor == 2
        await pilot.press("G")
        assert table.cursor == 29
        await pilot.press("g")
        assert table.cursor == 0
        await pilot.press("ctrl+d")  # no screen binds Ctrl+D here: half a page down
        assert table.cursor == 5
        await pilot.press("ctrl+u")
        assert table.cursor == 0


async def test_the_chosen_theme_is_kept_for_the_operator_and_theme_overrides(tmp_path: Path) -> None:
    home = tmp_path / "console"
    services = build_console_services(settings_for(home))
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        assert app.theme != "nord"
        app.theme = "nord"  # what the command palette's theme switcher does
        await settle(pilot, lambda: services.operator_settings.theme_sync() == "nord")
    services.close()

    services = build_console_services(settings_for(home))
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        assert app.theme == "nord"
    services.close()

    services = build_console_services(settings_for(home))
    app = ConsoleApp(services)
    app.theme_override = "dracula"  # what run_console does with --theme dracula
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await settle(pilot)
        assert app.theme == "dracula"
        assert services.operator_settings.theme_sync() == "nord"  # --theme is for this run only
    services.close()


def test_an_unknown_theme_is_one_line_naming_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_console(settings_for(tmp_path / "console"), theme="no-such-theme") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "unknown theme 'no-such-theme'" in err and "nord" in err and "textual-dark" in err
    assert not (tmp_path / "console").exists()  # refused before any database is opened


def test_theme_is_a_global_option() -> None:
    from ectui.cli import build_parser

    assert build_parser().parse_args(["--theme", "nord"]).theme == "nord"


async def test_keymap_toml_remaps_keys_and_names_bad_lines(tmp_path: Path) -> None:
    home = tmp_path / "console"
    settings = settings_for(home)
    settings.config_dir.mkdir(parents=True)
    settings.keymap_path.write_text(
        "# my keys\n"
        '"app.help" = "f1"\n'
        '"help.close" = "f2"\n'
        "this is not toml\n"
        '"no.such.binding" = "x"\n'
        '"app.quit" = 5\n'
        'list.last = "e"\n',
        encoding="utf-8",
    )
    services = build_console_services(settings)
    app = ConsoleApp(services)
    async with app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        shown = "\n".join(notifications(app))
        assert "keymap.toml line 4: not a TOML line" in shown
        assert "keymap.toml line 5: unknown binding id 'no.such.binding'" in shown
        assert "keymap.toml line 6: the keys of 'app.quit' must be a string" in shown
        assert "line 2" not in shown and "line 3" not in shown and "line 7" not in shown
        await pilot.press("question_mark")  # no longer the help key
        await settle(pilot)
        assert not isinstance(app.screen, HelpModal)
        await pilot.press("f1")
        await settle(pilot, lambda: isinstance(app.screen, HelpModal))
        assert "f1 Help" in help_text(app.screen)
        hint = app.screen.query_one("#help-hint", Label)
        assert "f2" in str(hint.content) and "esc" in str(hint.content)
        await pilot.press("f2")
        await settle(pilot, lambda: not isinstance(app.screen, HelpModal))
        await pilot.press("f1")
        await settle(pilot, lambda: isinstance(app.screen, HelpModal))
        await pilot.press("escape")
        await pilot.press("ctrl+q")  # app.quit kept its key: the bad line changed nothing
        await settle(pilot)
    assert app.return_code == 0
    services.close()
