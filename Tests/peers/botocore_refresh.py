"""Drives botocore's own refresh logic over a `credential_process` credential's whole life, with a clock the test
controls: botocore refreshes 15 minutes before expiry (advisory: a failure is logged and the old credential kept)
and 10 minutes before (mandatory: a failure is raised). A 900-second credential is inside both windows early on, so
every use past the first calls the process again.

    python3 botocore_refresh.py STEP_SECONDS -- CREDENTIAL_PROCESS_COMMAND...

Prints one JSON line: how many uses, how many refreshes, the distinct access key IDs seen, the first error if any.
"""
import datetime, json, shlex, sys

from botocore.credentials import ProcessProvider, RefreshableCredentials
from botocore.exceptions import CredentialRetrievalError

step = int(sys.argv[1])
command = shlex.join(sys.argv[sys.argv.index("--") + 1:])

provider = ProcessProvider(profile_name="agent", load_config=lambda: {"profiles": {"agent": {"credential_process": command}}})
refreshes = 0


def refresh():
    global refreshes
    refreshes += 1
    return provider._retrieve_credentials_using(command)


start = datetime.datetime.now(datetime.timezone.utc)
now = [start]
first = refresh()
expiry = datetime.datetime.fromisoformat(first["expiry_time"].replace("Z", "+00:00"))
credentials = RefreshableCredentials(first["access_key"], first["secret_key"], first["token"], expiry, refresh_using=refresh,
                                     method="custom-process", time_fetcher=lambda: now[0])
lifetime = int((expiry - start).total_seconds())
keys, uses, error = set(), 0, None
for offset in range(0, lifetime - step, step):
    now[0] = start + datetime.timedelta(seconds=offset)
    try:
        keys.add(credentials.get_frozen_credentials().access_key)
        uses += 1
    except (CredentialRetrievalError, RuntimeError) as exc:
        error = f"at +{offset}s: {type(exc).__name__}: {exc}"
        break
print(json.dumps({"lifetime": lifetime, "uses": uses, "refreshes": refreshes, "keys": sorted(keys), "error": error}))
