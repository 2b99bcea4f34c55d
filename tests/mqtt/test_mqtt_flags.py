"""``--mqtt`` and its companions: what they resolve to, and each refusal naming its flag."""

from __future__ import annotations

from pathlib import Path

import pytest

from dersim_trio.cli import main
from dersim_trio.errors import ConfigError
from dersim_trio.setup.config import MqttOptions, parse_args


def test_mqtt_is_off_by_default() -> None:
    assert parse_args([], environ={}).mqtt is None


def test_a_plain_broker_url_with_defaults() -> None:
    options = parse_args(["--mqtt", "mqtt://broker.example"], environ={}).mqtt
    assert options == MqttOptions(host="broker.example", port=1883)
    assert options.fleet == "dersim"
    assert not options.batch


def test_tls_credentials_fleet_and_batch(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not read by the parser")
    options = parse_args(
        ["--mqtt", "mqtts://[::1]", "--mqtt_ca", str(ca), "--fleet", "feeder-7", "--mqtt_batch"],
        environ={"DERSIM_MQTT_USERNAME": "sim", "DERSIM_MQTT_PASSWORD": "s3cret"},
    ).mqtt
    assert options is not None
    assert (options.host, options.port, options.tls, options.ca_file) == ("::1", 8883, True, ca)
    assert (options.username, options.password) == ("sim", "s3cret")
    assert (options.fleet, options.batch) == ("feeder-7", True)
    assert "s3cret" not in repr(options)
    assert options.url == "mqtts://[::1]:8883"


@pytest.mark.parametrize(
    ("argv", "environ", "start"),
    [
        (["--mqtt", "http://h:1883"], {}, "--mqtt: expected mqtt://"),
        (["--mqtt", "mqtt://"], {}, "--mqtt: expected mqtt://"),
        (["--mqtt", "mqtt://h:99999"], {}, "--mqtt: expected mqtt://"),
        (["--mqtt", "mqtt://h:0"], {}, "--mqtt: the port must be"),
        (["--mqtt", "mqtt://h/topic"], {}, "--mqtt: expected mqtt://"),
        (["--mqtt", "mqtt://u:p@h"], {}, "--mqtt: put no credentials in the URL"),
        (["--mqtt", "mqtt://h", "--mqtt_ca", "x.pem"], {}, "--mqtt_ca: applies to an mqtts://"),
        (["--mqtt", "mqtts://h", "--mqtt_ca", "/nonexistent.pem"], {}, "--mqtt_ca: file"),
        (["--mqtt", "mqtt://h", "--fleet", "a/b"], {}, "--fleet: 1 to 64"),
        (["--mqtt", "mqtt://h", "--fleet", "#"], {}, "--fleet: 1 to 64"),
        (["--mqtt", "mqtt://h", "--fleet", ""], {}, "--fleet: 1 to 64"),
        (["--fleet", "x"], {}, "--fleet: needs --mqtt"),
        (["--mqtt_batch"], {}, "--mqtt_batch: needs --mqtt"),
        (["--mqtt", "mqtt://h"], {"DERSIM_MQTT_PASSWORD": "p"}, "DERSIM_MQTT_PASSWORD: set"),
    ],
)
def test_a_bad_mqtt_flag_names_itself(argv: list[str], environ: dict[str, str], start: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_args(argv, environ=environ)
    assert str(caught.value).startswith(start), str(caught.value)


def test_an_unreadable_ca_file_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    assert main(["--mqtt", "mqtts://127.0.0.1", "--mqtt_ca", str(ca)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("dersim-trio: error: --mqtt_ca: cannot load")
