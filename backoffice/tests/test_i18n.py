"""The Portuguese catalogue is complete, and the admin speaks the operator's language to every role.

The catalogue test extracts our msgids afresh (``makemessages`` on a copy of the sources, so the
real catalogue is never touched) and requires each one translated in ``locale/pt_BR``, not fuzzy,
with the same placeholders. A string wrapped since the last ``make messages`` fails here until
it is translated.
"""

from __future__ import annotations

import ast
import gettext
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.urls import reverse

from backoffice import roles as role_names
from phones.tests.factories import PhoneFactory

CATALOGUE = Path(django_settings.BASE_DIR) / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
# What makemessages reads: the apps and the templates (not the virtualenv, outputs, the benchmark).
SOURCES = ("backoffice", "phones", "audit", "provider_sync", "simulator", "templates")
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]|\{\}")


def read_po(path: Path) -> list[dict]:
    """The entries of a .po file (msgctxt, msgid, msgid_plural, msgstr by index, flags); obsolete
    entries (``#~``) are left out. polib is not a dependency: the format is small."""
    entries: list[dict] = []
    entry: dict | None = None
    key: tuple[str, int | None] | None = None

    def flush() -> None:
        nonlocal entry
        if entry is not None and "msgid" in entry and not entry["obsolete"]:
            entries.append(entry)
        entry = None

    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            flush()
            continue
        if entry is None:
            entry = {"flags": set(), "msgstr": {}, "obsolete": False}
        if line.startswith("#~"):
            entry["obsolete"] = True
            continue
        if line.startswith("#,"):
            entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith("#"):
            continue
        match = re.match(r'^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(".*")$', line)
        if match:
            kind, index, value = match.group(1), match.group(2), ast.literal_eval(match.group(3))
            if kind == "msgstr":
                key = ("msgstr", int(index or 0))
                entry["msgstr"][key[1]] = value
            else:
                key = (kind, None)
                entry[kind] = value
        elif line.startswith('"') and key is not None:
            value = ast.literal_eval(line)
            if key[0] == "msgstr":
                entry["msgstr"][key[1]] += value
            else:
                entry[key[0]] += value
    flush()
    return entries


def _identity(entry: dict) -> tuple[str | None, str, str | None]:
    return entry.get("msgctxt"), entry["msgid"], entry.get("msgid_plural")


@pytest.fixture(scope="module")
def fresh_msgids(tmp_path_factory) -> set[tuple[str | None, str, str | None]]:
    if not shutil.which("xgettext"):
        pytest.skip("GNU gettext is not installed (apt-get install gettext)")
    root = tmp_path_factory.mktemp("sources")
    for name in SOURCES:
        shutil.copytree(
            Path(django_settings.BASE_DIR) / name,
            root / name,
            ignore=shutil.ignore_patterns("__pycache__", "tests", "migrations"),
        )
    (root / "locale").mkdir()
    import os

    cwd = os.getcwd()
    try:
        os.chdir(root)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(django_settings, "LOCALE_PATHS", [str(root / "locale")])
            call_command("makemessages", locale=["pt_BR"], no_location=True, verbosity=0)
    finally:
        os.chdir(cwd)
    return {_identity(entry) for entry in read_po(root / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po")}


def test_every_string_of_ours_is_translated_into_portuguese(fresh_msgids):
    ours = {_identity(entry): entry for entry in read_po(CATALOGUE) if entry["msgid"]}
    missing = sorted(str(msgid) for msgid in fresh_msgids - set(ours) if msgid[1])
    assert not missing, "not in locale/pt_BR (run `make messages` and translate):\n" + "\n".join(missing)
    problems = []
    for identity in fresh_msgids:
        if not identity[1]:
            continue
        entry = ours[identity]
        if "fuzzy" in entry["flags"]:
            problems.append(f"fuzzy: {identity[1]!r}")
        for index, text in entry["msgstr"].items():
            if not text.strip():
                problems.append(f"untranslated: {identity[1]!r}")
            elif sorted(PLACEHOLDER.findall(text)) != sorted(PLACEHOLDER.findall(identity[2] or identity[1])):
                problems.append(f"placeholders differ in msgstr[{index}]: {identity[1]!r} -> {text!r}")
    assert not problems, "\n".join(problems)


# The scripts' catalogue: Django's own strings of the admin's scripts, reworded (hand-kept).
SCRIPTS_CATALOGUE = CATALOGUE.with_name("djangojs.po")


@pytest.mark.parametrize("catalogue", [CATALOGUE, SCRIPTS_CATALOGUE], ids=["django", "djangojs"])
def test_the_catalogue_has_no_fuzzy_or_empty_entry_and_its_compiled_form_is_current(tmp_path, catalogue):
    entries = read_po(catalogue)
    header = entries[0]
    assert header["msgid"] == "" and "fuzzy" not in header["flags"] and "Language: pt_BR" in header["msgstr"][0]
    assert not [e["msgid"] for e in entries[1:] if "fuzzy" in e["flags"] or not all(e["msgstr"].values())]
    if not shutil.which("msgfmt"):
        pytest.skip("GNU gettext is not installed (apt-get install gettext)")
    # The committed .mo says what the .po says (Django reads only the .mo).
    fresh = tmp_path / "fresh.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(fresh), str(catalogue)], check=True)
    with fresh.open("rb") as expected, catalogue.with_suffix(".mo").open("rb") as committed:
        assert gettext.GNUTranslations(committed)._catalog == gettext.GNUTranslations(expected)._catalog, (
            "run `make messages` (compilemessages)"
        )


# --- The admin in Portuguese and in English, for every role -----------------------------------------
ROLES = [
    "crm-operator",
    "backoffice-operator",
    "itibackoffice-operator",
    "itibackoffice-master",
    "itinivel1-operator",
    "inspetoria-operator",
    "inspetoria-master",
    "treasury-operator",
    "geroficios-operator",
    "superuser",
]
# Per page: a few strings of ours as each language says them. The other language's must not show.
WORDS = {
    "dashboard": {"pt-br": ["Painel", "Preferências"], "en": ["Dashboard", "Preferences"]},
    "phone list": {
        "pt-br": ["Telefones", "Exportar a lista filtrada (CSV)", "ID do cliente"],
        "en": ["Phones", "Export filtered list (CSV)", "Customer ID"],
    },
    "phone form": {
        "pt-br": ["Incluir telefone", "São permitidos dígitos", "Código do país", "Ramal"],
        "en": ["Add phone", "Digits, spaces and", "Country code", "Extension"],
    },
    "phone page": {
        "pt-br": ["Cadastro", "Sincronização com o provedor", "Criado em"],
        "en": ["Record", "Provider sync", "Created at"],
    },
    "audit list": {
        "pt-br": ["Registros de auditoria", "Telefone criado", "Por perfil do operador"],
        "en": ["Audit entries", "Phone created", "By operator role"],
    },
}


def visible_text(html: str) -> str:
    html = re.sub(r"(?s)<(script|style|svg)\b[^>]*>.*?</\1>", " ", html)
    return " ".join(re.sub(r"(?s)<[^>]+>", " ", html).split())


def _pages(user, phone) -> dict[str, str]:
    pages = {"dashboard": reverse("admin:index")}
    if user.has_perm(role_names.VIEW_PHONE):
        pages["phone list"] = reverse("admin:phones_phone_changelist")
        pages["phone page"] = reverse("admin:phones_phone_change", args=[phone.pk])
    if user.has_perm(role_names.ADD_PHONE):
        pages["phone form"] = reverse("admin:phones_phone_add")
    if user.has_perm(role_names.VIEW_AUDIT):
        pages["audit list"] = reverse("admin:audit_auditentry_changelist")
    return pages


@pytest.mark.django_db
@pytest.mark.parametrize("language", ["pt-br", "en"])
@pytest.mark.parametrize("role", ROLES)
def test_the_main_pages_speak_the_operators_language(client, make_operator, role, language):
    operator = (
        make_operator(is_superuser=True, language=language)
        if role == "superuser"
        else make_operator(role, language=language)
    )
    phone = PhoneFactory(account_id=4321, actor=make_operator("backoffice-operator"))
    client.force_login(operator)
    other = "en" if language == "pt-br" else "pt-br"
    pages = _pages(operator, phone)
    assert "dashboard" in pages
    for page, url in pages.items():
        response = client.get(url)
        assert response.status_code == 200, (page, response.status_code)
        text = visible_text(response.content.decode())
        for words in WORDS[page][language]:
            assert words in text, f"{role} {language} {page}: {words!r} missing"
        for words in WORDS[page][other]:
            assert not re.search(rf"(?<![\w-]){re.escape(words)}(?![\w-])", text), (
                f"{role} {language} {page}: {words!r} shown"
            )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "title"),
    [("pt-br", "Administração de Telefones"), ("en", "Phones administration")],
)
def test_an_apps_index_page_is_titled_in_plain_words(client, make_operator, language, title):
    """Django's Portuguese put the words in English order: "Telefones administração" (found in the
    crawler's screenshots); our catalogue rewords it (``unfold_catalogue.DJANGO_REWORDED``)."""
    client.force_login(make_operator("backoffice-operator", language=language))
    text = visible_text(client.get(reverse("admin:app_list", args=["phones"])).content.decode())
    assert title in text
    assert "Telefones administração" not in text


@pytest.mark.django_db
def test_the_role_pages_permission_picker_reads_as_portuguese(client, make_operator):
    """The two-list picker of a role's permissions is drawn by Django's script, whose Portuguese
    agreed with a masculine noun: "Escolher todos permissões", "permissões escolhido(s)" (found on
    the role page). Our scripts' catalogue (``djangojs.po``) says it without agreement; the page
    reads the catalogue from the admin's ``jsi18n`` view."""
    client.force_login(make_operator(is_superuser=True, language="pt-br"))
    catalogue = client.get(reverse("admin:jsi18n")).content.decode()

    def said(text: str) -> bool:  # the catalogue is JSON in a script: accents escaped
        return json.dumps(text)[1:-1] in catalogue

    # The lists' headings begin with a capital ("permissões disponíveis" began lowercase).
    for reworded in ("Disponíveis (%s)", "Na seleção (%s)", "Escolher tudo (%s)", "Remover tudo (%s)"):
        assert said(reworded), reworded
    for agreed in ("%s escolhido(s)", "Escolher todos %s", "Remover todos %s", "selecionando-os"):
        assert not said(agreed), agreed
