"""The shell shared by both apps: domains, help, command palette, errors, 80x24, zh_CN."""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import Button, DataTable, Label, Tree
from textual.widgets.tree import TreeNode
from uikit import help_text, notifications, settings_for, settle, started

from ectui.app import IssuerApp
from ectui.i18n import set_language
from ectui.screens.editions import EditionsScreen, NewEditionModal
from ectui.screens.licenses import LicensesScreen
from ectui.screens.menus import MenusScreen
from ectui.services import build_issuer_services
from ectui.services.errors import IssuerError
from ectui.widgets import AppHeader, HelpModal, MenuTreePicker, Sidebar, complete_path


def tree_codes(tree: Tree[str]) -> list[str]:
    """The codes of every node of the menus tree, depth first."""
    found: list[str] = []

    def walk(node: TreeNode[str]) -> None:
        for child in node.children:
            if child.data:
                found.append(child.data)
            walk(child)

    walk(tree.root)
    return found


async def test_number_keys_switch_domains_and_menus_tree(issuer_app: IssuerApp) -> None:
    async with issuer_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press("3")
        await settle(pilot, lambda: isinstance(issuer_app.screen, MenusScreen))
        screen = issuer_app.screen
        assert isinstance(screen, MenusScreen)
        codes = tree_codes(screen.query_one("#menus-tree", Tree))
        assert [c for c in codes if "." not in c] == [
            "platform",
            "statistics",
            "users",
            "workflow",
            "billing",
        ]
        assert "platform.images" in codes
        current = screen.query_one(Sidebar).query(".-current")
        assert [str(label.content) for label in current] == ["3 Feature menus"]
        await pilot.press("2")
        await settle(pilot, lambda: isinstance(issuer_app.screen, LicensesScreen))
        await pilot.press("9")  # no ninth domain: nothing happens
        await settle(pilot)
        assert isinstance(issuer_app.screen, LicensesScreen)
        await pilot.press("1")
        await settle(pilot, lambda: isinstance(issuer_app.screen, EditionsScreen))


async def test_help_modal_lists_screen_and_global_keys(issuer_app: IssuerApp) -> None:
    async with issuer_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        await pilot.press("question_mark")
        await settle(pilot, lambda: isinstance(issuer_app.screen, HelpModal))
        modal = issuer_app.screen
        assert isinstance(modal, HelpModal)
        text = help_text(modal)
        for expected in (
            "This screen",
            "New",
            "Delete",
            "^d",
            "Domains",
            "Licenses",
            "Global",
            "Quit",
            "Command palette",
        ):
            assert expected in text
        await pilot.press("question_mark")  # ? closes it again
        await settle(pilot, lambda: isinstance(issuer_app.screen, EditionsScreen))


async def test_command_palette_lists_domains_and_screen_actions(issuer_app: IssuerApp) -> None:
    async with issuer_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        titles = [command.title for command in issuer_app.get_system_commands(issuer_app.screen)]
        for expected in (
            "Go to Editions",
            "Go to Licenses",
            "Go to Feature menus",
            "New",
            "Detail",
            "Delete",
            "Refresh",
            "Help",
        ):
            assert expected in titles, expected
        await pilot.press("ctrl+p")
        await settle(pilot, lambda: isinstance(issuer_app.screen, CommandPalette))
        await pilot.press(*"Go to Licenses")
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(issuer_app.screen, LicensesScreen))
        titles = [command.title for command in issuer_app.get_system_commands(issuer_app.screen)]
        assert {"Export", "Modify", "New"} <= set(titles)


async def test_unhandled_worker_error_is_one_notification(issuer_app: IssuerApp) -> None:
    async with issuer_app.run_test(size=(100, 30)) as pilot:
        await started(pilot)
        screen = issuer_app.screen

        async def fail() -> None:
            raise IssuerError("issuer.edition_not_found", name="Ghost")

        screen.run_worker(fail(), group="test-fail", exit_on_error=False)
        await settle(pilot, lambda: bool(notifications(issuer_app)))
        assert any("No edition named 'Ghost'" in text for text in notifications(issuer_app))
        assert issuer_app.is_running


async def test_new_edition_form_fits_80x24(issuer_app: IssuerApp) -> None:
    async with issuer_app.run_test(size=(80, 24)) as pilot:
        await started(pilot)
        screen = issuer_app.screen
        assert screen.query_one(DataTable).region.width > 40
        assert screen.query_one(AppHeader).region.height == 1
        await pilot.press("n")
        await settle(pilot, lambda: isinstance(issuer_app.screen, NewEditionModal))
        modal = issuer_app.screen
        box = modal.query_one("#new-edition-box")
        assert box.region.bottom <= 24 and box.region.right <= 80
        create = modal.query_one("#edition-create", Button)
        assert create.region.bottom <= 24 and create.region.height > 0
        assert modal.query_one(MenuTreePicker).region.height >= 5


def test_complete_path(tmp_path: Path) -> None:
    (tmp_path / "licenses").mkdir()
    (tmp_path / "acme.ec").write_text("x")
    assert complete_path(f"{tmp_path}/li") == f"{tmp_path}/licenses/"
    assert complete_path(f"{tmp_path}/ac") == f"{tmp_path}/acme.ec"
    assert complete_path(f"{tmp_path}/ac", directories_only=True) is None
    assert complete_path(f"{tmp_path}/zz") is None


async def test_zh_cn_labels(tmp_path: Path) -> None:
    set_language("zh_CN")
    services = build_issuer_services(settings_for(tmp_path / "zh"))
    try:
        app = IssuerApp(services)
        async with app.run_test(size=(80, 24)) as pilot:
            await started(pilot)
            labels = [str(label.content) for label in app.screen.query_one(Sidebar).query(Label)]
            assert labels == ["1 版本", "2 证书", "3 功能菜单"]
            assert app.status_text == "0 个版本 · 0 个证书"
            await pilot.press("3")
            await settle(pilot, lambda: isinstance(app.screen, MenusScreen))
            tree = app.screen.query_one(Tree)
            assert "平台" in str(tree.root.children[0].label)
    finally:
        set_language("en")
        services.close()
