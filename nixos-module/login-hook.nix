# The /etc/profile hook that starts the screen on a console login (programs.bash.loginShellInit).
# Builtins only, so the tests can generate it without nixpkgs.
#
# The console login's shell is the one login(1) forked (agetty -> login -> shell). `su -`,
# `sudo -i` and a nested `bash -l` are login shells too and read /etc/profile, but su, sudo or a
# shell started them: they neither start a second screen nor make a new password.
# `installer-env login` applies the same rule itself; checking here first saves a Python start on
# every `su -`.
{
  # tty names without /dev/
  consoles,
  # the installer-env executable
  program,
}:
''
  # installer-env: the screen on a console login, never in an ssh session. Ctrl-C or a failure
  # leaves this shell usable; the trap keeps an interrupt from cutting /etc/profile short.
  if [ -z "''${SSH_CONNECTION-}" ] && [ -z "''${SSH_TTY-}" ] \
    && [ "$(cat "/proc/$PPID/comm" 2>/dev/null)" = login ]; then
    case "$(tty 2>/dev/null)" in
      ${builtins.concatStringsSep "|" (map (c: "/dev/${c}") consoles)})
        trap : INT
        ${program} login || echo "installer-env stopped (exit status $?); this is a shell." >&2
        trap - INT
        ;;
    esac
  fi
''
