"""The docs stay in step with the code: every variable the config reads is documented."""

import json
import re

from tests.processes import ROOT

CONFIG_SOURCE = "\n".join(path.read_text() for path in (ROOT / "guard" / "config").glob("*.py"))  # read here only
ENV_VARS = sorted(set(re.findall(r'reader\.\w+\(\s*"([A-Z0-9_]+)"', CONFIG_SOURCE)))


def test_config_reads_a_known_set_of_variables():
    assert "TWILIO_AUTH_TOKEN" in ENV_VARS and "DATABASE_URL" in ENV_VARS


def test_every_variable_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in ENV_VARS if f"| `{name}` |" not in readme]
    assert missing == []


def test_every_variable_is_in_app_json_with_a_description():
    app_json = json.loads((ROOT / "app.json").read_text())
    env = app_json["env"]
    # DATABASE_URL comes from the heroku-postgresql add-on, PORT and DYNO from Heroku, not from the person deploying.
    assert "heroku-postgresql" in app_json["addons"]
    set_by_heroku = {"DATABASE_URL", "PORT", "DYNO"}
    undocumented = [name for name in ENV_VARS if name not in set_by_heroku and not env.get(name, {}).get("description")]
    assert undocumented == []
    assert env["TWILIO_AUTH_TOKEN"]["required"] is True


def test_app_json_describes_every_variable_of_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| `([A-Z0-9_]+)` \|", readme, re.MULTILINE))
    env = json.loads((ROOT / "app.json").read_text())["env"]
    # Heroku sets PORT and DYNO itself, and the add-on sets DATABASE_URL.
    assert sorted(documented - {"PORT", "DYNO", "DATABASE_URL"} - set(env)) == []


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "```sh\nmake test\n```" in readme
    assert re.search(r"^make test$", ci, re.MULTILINE)
