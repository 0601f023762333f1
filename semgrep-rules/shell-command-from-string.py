import os
import shlex
import subprocess


def image_dimensions(path):
    # ruleid: GAP808
    result = subprocess.run(
        f"identify -format '%w %h' '{path}[0]'",
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split()


def archive(folder, name):
    command = "tar czf /backups/%s.tgz %s" % (name, folder)
    # ruleid: GAP808
    subprocess.check_call(command, shell=True)
    # ruleid: GAP808
    os.system("rm -rf " + folder)
    # ok: GAP808
    subprocess.run(["tar", "czf", f"/backups/{name}.tgz", folder], check=True)
    # ok: GAP808
    subprocess.run(f"du -sh {shlex.quote(folder)}", shell=True, check=True)
    # ok: GAP808
    subprocess.run("df -h /backups", shell=True, check=True)


def postmap_all(maps):
    for policy in ["tls_policy", "transport"]:
        # ok: GAP808
        os.system(f"postmap /etc/postfix/{policy}.map")
    for name in maps:
        # ruleid: GAP808
        os.system(f"postmap /etc/postfix/{name}.map")
