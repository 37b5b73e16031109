#!/bin/sh
# Gives the rig Debian bookworm's package lists in a private apt configuration, as the
# runner's user and leaving the host's apt alone: the guest images are made of Debian
# packages (their kernel is Debian's `linux-image-amd64`, which Ubuntu's archive has not).
# Needs debian-archive-keyring. Usage: .github/debian-apt.sh DIR; then export
# APT_CONFIG=DIR/apt.conf (in a workflow the script appends it to $GITHUB_ENV itself).
set -eu
root="$1"
mkdir -p "$root/lists/partial" "$root/cache/archives/partial" "$root/parts" "$root/prefs"
: > "$root/status"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main" \
  > "$root/sources.list"
cat > "$root/apt.conf" <<CONF
Dir::State "$root";
Dir::State::Lists "$root/lists";
Dir::State::status "$root/status";
Dir::Cache "$root/cache";
Dir::Etc::SourceList "$root/sources.list";
Dir::Etc::SourceParts "$root/parts";
Dir::Etc::PreferencesParts "$root/prefs";
APT::Architecture "amd64";
CONF
APT_CONFIG="$root/apt.conf" apt-get update -q
if [ -n "${GITHUB_ENV:-}" ]; then
  echo "APT_CONFIG=$root/apt.conf" >> "$GITHUB_ENV"
fi
