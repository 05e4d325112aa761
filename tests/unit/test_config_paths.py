"""Settings (gsatellite.config) and paths/host name (gsatellite.paths).

Covers: documented defaults (and that etc/gsatellite.conf documents them),
the file search order (a later file wins, $HOME/.gsatellite last), the
``GSAT_<KEY>`` environment override, the parser (comments, sections,
quotes, malformed lines -> ConfigError), the classic layout under
``$HOME/.gsatellite``, and the host name: ``GSAT_HOSTNAME``, the
``hostname`` setting, the per-node cache file, and the fallback to the node
name when resolution fails or hangs.
"""

import os
import socket
import threading
import time

import pytest

from gsatellite import config, paths, transport
from gsatellite.transport import mbox


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("GSAT_"):
            monkeypatch.delenv(key)
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    paths.reset()
    config.reset()
    yield h
    paths.reset()
    config.reset()


def write_conf(directory, text):
    os.makedirs(str(directory), exist_ok=True)
    path = os.path.join(str(directory), "gsatellite.conf")
    with open(path, "w") as f:
        f.write(text)
    config.reset()
    return path


def system_configs():
    return [d for d in config.config_dirs()[:-1] if os.path.isfile(os.path.join(d, config.CONFIG_NAME))
            and d != os.path.join(paths.tree(), "etc")]


# -- defaults and the shipped file ------------------------------------------------

def test_defaults_without_any_user_file():
    if system_configs():
        pytest.skip("this machine has a system-wide gsatellite.conf: %s" % system_configs())
    for key, value in config.DEFAULTS.items():
        assert config.get(key) == value, key
    assert config.get("scheduler") == "fifo"
    assert config.get_float("answer_timeout") == 60.0
    assert config.get_float("liveness_interval") < 5  # liveness rule
    assert config.get_float("sigfwd_poll") == 0.5
    assert config.get_int("max_restarts") == 3
    assert config.get_int("max_message_size") == 65536
    assert config.get("no_such_key") == ""


def test_shipped_config_documents_every_default():
    documented = {}
    with open(os.path.join(paths.tree(), "etc", "gsatellite.conf")) as f:
        for line in f:
            line = line.strip()
            if line.startswith("#") and "=" in line and " " not in line.split("=")[0].strip("# "):
                key, _, value = line.lstrip("#").partition("=")
                documented[key.strip()] = value.strip()
    assert documented == config.DEFAULTS


# -- search order and overrides -----------------------------------------------------

def test_user_file_is_read_last():
    dirs = config.config_dirs()
    assert dirs[-1] == paths.base() == os.path.join(os.environ["HOME"], ".gsatellite")
    assert dirs[:2] == ("/etc/gsatellite", "/etc/opt/gsatellite")
    assert dirs.index(os.path.join(paths.tree(), "etc")) < len(dirs) - 1


def test_later_file_overrides_earlier(tmp_path, monkeypatch):
    first, second = tmp_path / "etc1", tmp_path / "etc2"
    monkeypatch.setattr(config, "config_dirs", lambda: (str(first), str(tmp_path / "absent"), str(second),
                                                      paths.base()))
    write_conf(first, "scheduler = nobatch\nanswer_timeout = 5\nsigfwd_poll = 0.25\n")
    write_conf(second, "answer_timeout = 7\n")
    write_conf(paths.base(), "sigfwd_poll = 0.1\n")
    assert config.get("scheduler") == "nobatch"
    assert config.get_float("answer_timeout") == 7
    assert config.get_float("sigfwd_poll") == 0.1
    assert config.get("max_restarts") == "3"


def test_user_file_in_state_dir_overrides_defaults():
    write_conf(paths.base(), "scheduler = nobatch\n")
    assert config.get("scheduler") == "nobatch"


def test_environment_overrides_every_file(monkeypatch):
    write_conf(paths.base(), "scheduler = fifo\nanswer_timeout = 9\n")
    monkeypatch.setenv("GSAT_SCHEDULER", "nobatch")
    assert config.get("scheduler") == "nobatch"
    assert config.get_float("answer_timeout") == 9
    # Read on every call: no reset needed for a changed environment.
    monkeypatch.setenv("GSAT_ANSWER_TIMEOUT", "2.5")
    assert config.get_float("answer_timeout") == 2.5
    # An empty variable is a value too (e.g. GSAT_HOSTNAME= means "resolve").
    write_conf(paths.base(), "hostname = node1.example.org\n")
    config.reset()
    monkeypatch.setenv("GSAT_HOSTNAME", "")
    assert config.get("hostname") == ""


def test_file_is_read_once_until_reset():
    path = write_conf(paths.base(), "scheduler = nobatch\n")
    assert config.get("scheduler") == "nobatch"
    with open(path, "w") as f:
        f.write("scheduler = fifo\n")
    assert config.get("scheduler") == "nobatch"
    config.reset()
    assert config.get("scheduler") == "fifo"


# -- the parser ----------------------------------------------------------------------

def test_comments_sections_quotes_and_case():
    write_conf(paths.base(), (
        "# a comment\n"
        "; another comment\n"
        "\n"
        "[gsatellite]\n"
        "  Scheduler   =   nobatch  \n"
        'hostname = "front1.example.org"\n'
        "answer_timeout='30'\n"
        "max_restarts = 5 # not a comment: values are taken whole\n"
    ))
    assert config.get("scheduler") == "nobatch"
    assert config.get("hostname") == "front1.example.org"
    assert config.get("answer_timeout") == "30"
    # Values are taken whole, so this one is not a number, and every read
    # of it says so, naming the key and the file.
    for read in (config.get, config.get_int):
        with pytest.raises(config.ConfigError, match="^max_restarts: .*'5 # not a comment: values are taken whole'"):
            read("max_restarts")


@pytest.mark.parametrize("line", ["scheduler nobatch", "= nobatch", "   =", "[unclosed"])
def test_malformed_line_is_a_config_error(line):
    path = write_conf(paths.base(), "# ok\nscheduler = fifo\n%s\n" % line)
    with pytest.raises(config.ConfigError) as e:
        config.get("scheduler")
    assert "%s:3" % path in str(e.value)


def test_unreadable_config_is_a_config_error():
    os.makedirs(os.path.join(paths.base(), "gsatellite.conf"))  # a directory, not a file
    with pytest.raises(config.ConfigError, match="cannot be read"):
        config.get("scheduler")


def test_non_numeric_settings_are_config_errors(monkeypatch):
    monkeypatch.setenv("GSAT_ANSWER_TIMEOUT", "soon")
    with pytest.raises(config.ConfigError, match="answer_timeout"):
        config.get_float("answer_timeout")
    monkeypatch.setenv("GSAT_MAX_RESTARTS", "2.5")
    with pytest.raises(config.ConfigError, match="max_restarts"):
        config.get_int("max_restarts")


# -- layout -----------------------------------------------------------------------------

def test_classic_layout_under_home(home, monkeypatch):
    monkeypatch.setenv("GSAT_HOSTNAME", "h1.example.org")
    g = os.path.join(str(home), ".gsatellite")
    assert paths.base() == g
    assert paths.gsatlc_pid_file() == g + "/gsatlcPid"
    assert paths.gsatlc_host_file() == g + "/gsatlcHostName"
    assert paths.gsatlc_log() == g + "/var/log/gsatlc.log"
    assert paths.sigfwd_log() == g + "/var/log/h1.example.org/sigfwd.log"
    assert paths.sigfwd_pid_file() == g + "/var/run/h1.example.org/sigfwd.pid"
    assert paths.mboxes_root() == g + "/mboxes"
    assert mbox.host_dir() == g + "/mboxes/h1.example.org"
    assert mbox.host_dir("other") == g + "/mboxes/other"
    assert transport.process_address(4711) == g + "/mboxes/h1.example.org/4711.inbox"
    assert transport.sigfwd_address("other") == g + "/mboxes/other/sigfwd.inbox"
    assert paths.next_job_id_file() == g + "/gschedule/nextJobId"
    assert paths.job_dir("00001") == g + "/gschedule/jobs/00001.d"
    assert paths.state_link("queued", "00001") == g + "/gschedule/queued/00001.d"
    assert paths.job_file("00001", "job.exit") == g + "/gschedule/jobs/00001.d/job.exit"
    assert paths.job_tmp_dir("00001") == g + "/gschedule/jobs/00001.d/jobtmp"
    assert paths.user_services_dir("JOB_START") == g + "/services/onJOB_START"
    assert paths.email_address_file() == g + "/myEmailAddress"
    assert paths.proxy_credential() == g + "/tmp/defaultGsiProxyCredential"


def test_reset_follows_a_new_home(tmp_path, monkeypatch):
    first = paths.base()
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    assert paths.base() == first  # cached until reset
    paths.reset()
    assert paths.base() == str(tmp_path / "elsewhere" / ".gsatellite")


# -- host name ---------------------------------------------------------------------------

def cache_file():
    return os.path.join(paths.cache_dir(), "fqdn." + os.uname().nodename)


def no_resolver(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("the resolver must not be asked")

    monkeypatch.setattr(socket, "getaddrinfo", fail)


def test_gsat_hostname_overrides_everything(monkeypatch):
    write_conf(paths.base(), "hostname = from.config\n")
    no_resolver(monkeypatch)
    monkeypatch.setenv("GSAT_HOSTNAME", "from.env")
    assert paths.hostname() == "from.env"
    assert not os.path.exists(cache_file())


def test_hostname_setting_used_without_env(monkeypatch):
    write_conf(paths.base(), "hostname = from.config\n")
    no_resolver(monkeypatch)
    assert paths.hostname() == "from.config"


def test_hostname_is_cached_in_process(monkeypatch):
    monkeypatch.setenv("GSAT_HOSTNAME", "first.name")
    assert paths.hostname() == "first.name"
    monkeypatch.setenv("GSAT_HOSTNAME", "second.name")
    assert paths.hostname() == "first.name"
    paths.reset()
    assert paths.hostname() == "second.name"


def test_fresh_cache_file_is_used_without_resolving(monkeypatch):
    os.makedirs(paths.cache_dir())
    with open(cache_file(), "w") as f:
        f.write("cached.example.org\n")
    no_resolver(monkeypatch)
    assert paths.hostname() == "cached.example.org"


def test_cache_of_another_node_is_ignored(monkeypatch):
    os.makedirs(paths.cache_dir())
    with open(os.path.join(paths.cache_dir(), "fqdn.some-other-node"), "w") as f:
        f.write("other.example.org\n")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a: [(0, 0, 0, "mine.example.org", None)])
    assert paths.hostname() == "mine.example.org"


def test_stale_cache_is_resolved_again_and_rewritten(monkeypatch):
    os.makedirs(paths.cache_dir())
    with open(cache_file(), "w") as f:
        f.write("old.example.org\n")
    two_hours_ago = time.time() - 7200
    os.utime(cache_file(), (two_hours_ago, two_hours_ago))
    asked = []

    def resolver(host, *args):
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "new.example.org", ("10.0.0.1", 0))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    assert paths.hostname() == "new.example.org"
    assert asked == [os.uname().nodename]
    with open(cache_file()) as f:
        assert f.read() == "new.example.org\n"


def test_resolution_failure_falls_back_to_node_name(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    assert paths.hostname() == os.uname().nodename
    with open(cache_file()) as f:
        assert f.read() == os.uname().nodename + "\n"


def test_hanging_resolver_falls_back_to_node_name(monkeypatch):
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait(30)
        return [(0, 0, 0, "too.late.example.org", None)]

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    monkeypatch.setattr(paths, "_RESOLVE_TIMEOUT", 0.2)
    try:
        assert paths.hostname() == os.uname().nodename
    finally:
        release.set()


def test_the_resolver_thread_takes_no_signal_meant_for_a_daemon(monkeypatch):
    """A resolver that outlives its wait must not take the SIGCONT that
    wakes a daemon (which blocks it only after it knows its host name):
    the thread starts with every signal blocked, the caller's mask stays."""
    import signal

    seen = []
    release = threading.Event()

    def hang(*args, **kwargs):
        seen.append(signal.pthread_sigmask(signal.SIG_BLOCK, []))
        release.wait(30)
        return []

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    monkeypatch.setattr(paths, "_RESOLVE_TIMEOUT", 0.2)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    try:
        assert paths.hostname() == os.uname().nodename
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
    finally:
        release.set()
    assert len(seen) == 1
    for signo in (signal.SIGCONT, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD, signal.SIGIO):
        assert signo in seen[0]


def test_unwritable_cache_does_not_break_hostname(monkeypatch):
    # A file where the cache directory should be: writing the cache fails.
    os.makedirs(os.path.dirname(paths.cache_dir()))
    with open(paths.cache_dir(), "w") as f:
        f.write("in the way\n")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a: [(0, 0, 0, "ok.example.org", None)])
    assert paths.hostname() == "ok.example.org"


def _returns_within(fn, seconds, unblock):
    """``(finished, outcome)`` of ``fn()`` run in a thread for at most
    ``seconds``; ``unblock()`` lets a blocked call go so the thread ends."""
    import threading

    outcome = []

    def run():
        try:
            outcome.append(fn())
        except Exception as e:  # noqa: BLE001 - the outcome is asserted
            outcome.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    finished = not t.is_alive()
    if not finished:
        unblock()
        t.join(5)
    return finished, outcome[0] if outcome else None


def _open_writer(fifo):
    return lambda: os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))


def test_a_fifo_as_the_configuration_is_an_error_not_a_hang():
    fifo = os.path.join(paths.base(), "gsatellite.conf")
    os.makedirs(paths.base(), exist_ok=True)
    os.mkfifo(fifo)
    finished, outcome = _returns_within(lambda: config.get("scheduler"), 5, _open_writer(fifo))
    assert finished, "reading the configuration blocked on a FIFO"
    assert isinstance(outcome, config.ConfigError) and "not a regular file" in str(outcome)


def test_a_fifo_as_the_host_name_cache_is_no_name(monkeypatch):
    cache = os.path.join(paths.cache_dir(), "fqdn." + os.uname().nodename)
    os.makedirs(paths.cache_dir(), exist_ok=True)
    os.mkfifo(cache)
    monkeypatch.setattr(paths, "_resolve_fqdn", lambda node: "resolved.example.org")
    finished, outcome = _returns_within(paths._cached_fqdn, 5, _open_writer(cache))
    assert finished, "reading the host name cache blocked on a FIFO"
    assert outcome == "resolved.example.org"
