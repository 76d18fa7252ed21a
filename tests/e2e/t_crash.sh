#!/usr/bin/env bash
# t_crash.sh — crash consistency: SIGKILL at random moments during
# concurrent pushes, many times in a row.
#
# Each round: CRASH_CLIENTS (8) client loops (bash + curl) push into their
# own repository crash/cN — monolithic blobs (Content-Length or chunked
# transfer), chunked uploads of 2-5 PATCHes with Content-Range closed by a
# PUT (with or without a last chunk), blobs of a small pool of contents
# shared by all clients (the same digest installed concurrently), image
# manifests by tag and by digest, tag moves, manifest deletes, tag deletes
# and blob deletes.  The test keeps two upload sessions of its own half
# done (one with a rate-limited PATCH in flight).  After a random 0.3-1.8 s
# a burst of CRASH_BURST (12) pushes of 256 KiB-2 MiB starts at once
# (monolithic POSTs, and closing PUTs of sessions prepared before), and
# 0-60 ms later the daemon gets SIGKILL, so that some pushes are caught
# between body and answer (digest check, fsync, rename, metadata commit).
# The daemon is started again on the same root.
#
# Every client writes a journal: TRY before a request that may create a
# blob, manifest or tag; ACK when it got its 2xx; UNK when the connection
# broke with the request possibly applied; DEAD when it was refused; ERR
# for any other status (a failure: nothing else is expected).  After every
# restart:
#   - every blob, manifest and tag is in a state the journal allows: what
#     was acknowledged (and not later removed by an acknowledged delete) is
#     served with its exact digest, what an acknowledged delete removed is
#     404, what was in flight is either; the model then takes what was
#     observed, so that state must persist in the rounds after.  New or
#     uncertain objects are fetched and hashed; blobs already seen intact
#     get a HEAD (status, Content-Length, Docker-Content-Digest) since the
#     bytes served are the file's, which the walk below re-hashes whenever
#     it changes (path, inode, size, mtime); the last round of each mode
#     GETs and hashes everything;
#   - every file under <root>/blobs has the name of its content's digest
#     and is a digest some client tried to push (no spool, partial upload
#     or temporary file is visible as a blob);
#   - no metadata row points at a missing file (blobs rows and manifests
#     rows vs files, sizes equal; upload rows vs their spool files), no tag
#     without its manifest, no manifest reference without its blob row,
#     foreign_key_check and integrity_check clean; every repository link
#     is a (repository, digest) some client tried;
#   - the manifests and tags tables agree with what was served;
#   - the test's two upload sessions resume: GET gives 204 and the Range
#     kept, the rest is PATCHed (or PUT) from that offset, PUT gives 201
#     with the digest, and the blob is served;
#   - a burst PUT that got no answer is retried as a client would: its
#     session is either gone (then the blob must be served) or answers 204
#     with the Range it had (then the PUT again must give 201).
# A problem found in one round (a dangling row) is counted once, not again
# in every later round.
#
# The whole run is done with [storage] sync = true and again with sync =
# false (SIGKILL loses no page-cache data, so both must pass).  E2E_SYNC
# set in the environment runs only that mode.  CRASH_ROUNDS (10 per mode),
# CRASH_CLIENTS (8), CRASH_BURST (12), CRASH_SEED (random; printed) tune it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib-oci.sh"
e2e_init
# ~20 restarts: run a copy, so that a rebuild of the tree meanwhile cannot
# swap the binary between two of them (run-all does the same).
if [ "${E2E_NO_SNAPSHOT:-0}" != 1 ] && cp "$OCIREGD" "$TMP/ociregd.snap" 2>/dev/null; then
	echo "# snapshot of $OCIREGD: sha256 $(sha256sum "$TMP/ociregd.snap" | cut -c1-16)"
	OCIREGD=$TMP/ociregd.snap
fi

ROUNDS=${CRASH_ROUNDS:-10}
NCLI=${CRASH_CLIENTS:-8}
SEED=${CRASH_SEED:-$(((RANDOM << 15) | RANDOM))}
RANDOM=$SEED
E2E_WORKERS=${E2E_WORKERS:-4}
if [ -n "${E2E_SYNC+set}" ]; then
	MODES=("$E2E_SYNC")
else
	MODES=(true false)
fi
echo "# seed $SEED (CRASH_SEED=$SEED reproduces the random choices of the test itself), $ROUNDS rounds per mode, $NCLI clients, modes: ${MODES[*]}"
T_START=$(date +%s)

# ---------------------------------------------------------------- client loops
#
# client N ROUND BASE SEED: runs in a subshell until the daemon is gone,
# $W/stop exists or 400 operations are done.  Its known state (what the
# model says is certainly there after the last check) is in $W/cN/{blobs,
# mans,tags}; it appends to $W/cN/j.ROUND.
client() {
	local i=$1 r=$2 base=$3
	RANDOM=$4
	local repo=crash/c$i cdir=$W/c$i
	local J=$cdir/j.$r t=$cdir/tmp
	local CB=$t/body CH=$t/hdrs CS=000 CE=0 dead=0 ops=0 roll
	local -A BL=() BS=() MN=() TG=()
	local d c sz tg
	mkdir -p "$t"
	while read -r d c sz; do BL[$d]=$c BS[$d]=$sz; done <"$cdir/blobs"
	while read -r d; do MN[$d]=1; done <"$cdir/mans"
	while read -r tg d; do TG[$tg]=$d; done <"$cdir/tags"

	# cc CURL-ARGS...: one request; CS status, CE curl exit code.
	cc() {
		local o
		o=$(curl -s --max-time 15 -o "$CB" -D "$CH" -w '%{http_code} %{exitcode}' "$@" </dev/null)
		CS=${o%% *}
		CE=${o##* }
		# a broken connection after an interim "100 Continue" shows 100
		[ "$CE" != 0 ] && CS=000
	}
	h() { tr -d '\r' <"$CH" | awk -v n="$1" 'BEGIN{n=tolower(n)} {i=index($0,":"); if(i>0 && tolower(substr($0,1,i-1))==n){v=substr($0,i+1); sub(/^[ \t]+/,"",v); print v}}' | tail -n 1; }
	# outcome EXPECTED-STATUS JOURNAL-LINE: 0 if the request got EXPECTED.
	outcome() {
		if [ "$CS" = "$1" ]; then
			echo "ACK $2" >>"$J"
			return 0
		fi
		if [ "$CS" = 000 ]; then
			dead=1
			case $CE in
			7) echo "DEAD $2" >>"$J" ;;        # refused: never reached a daemon
			28) echo "TIMEOUT $2" >>"$J" ;;    # a live daemon that did not answer
			*) echo "UNK $2 (curl exit $CE)" >>"$J" ;;
			esac
			return 1
		fi
		echo "ERR $2 :: status $CS, body $(head -c 300 "$CB" | tr '\n' ' ')" >>"$J"
		return 1
	}
	# step EXPECTED DESC: an intermediate request (no object changes state).
	step() {
		[ "$CS" = "$1" ] && return 0
		if [ "$CS" = 000 ]; then
			dead=1
			[ "$CE" = 28 ] && echo "TIMEOUT step $2" >>"$J"
			return 1
		fi
		echo "ERR step $2 :: status $CS, body $(head -c 300 "$CB" | tr '\n' ' ')" >>"$J"
		return 1
	}
	newblob() { # newblob FILE: random size, mostly small
		local n
		if [ $((RANDOM % 20)) = 0 ]; then
			n=$((1000000 + RANDOM * 30))
		else
			n=$((1 + (RANDOM % 64) * 3000 + RANDOM % 3000))
		fi
		head -c "$n" /dev/urandom >"$1"
	}
	op_mono() { # monolithic POST ?digest=, loose or layer, sometimes a shared content
		local f=$t/mono cls=$1 d sz
		if [ "$cls" = shared ]; then
			f=$W/shared/$((RANDOM % 6))
			cls=layer
		else
			newblob "$f"
		fi
		d=$(sha256_of "$f")
		echo "TRY blob $repo $d" >>"$J"
		if [ $((RANDOM % 3)) = 0 ]; then
			cc -X POST -H 'Content-Type: application/octet-stream' -H 'Transfer-Encoding: chunked' \
				--data-binary "@$f" "$base/v2/$repo/blobs/uploads/?digest=$d"
		else
			cc -X POST -H 'Content-Type: application/octet-stream' --data-binary "@$f" \
				"$base/v2/$repo/blobs/uploads/?digest=$d"
		fi
		sz=$(stat -c %s "$f")
		if outcome 201 "blob $repo $d $cls $sz"; then
			if [ "$(h Docker-Content-Digest)" != "$d" ]; then
				echo "ERR blob $repo $d :: 201 with Docker-Content-Digest '$(h Docker-Content-Digest)'" >>"$J"
			fi
			BL[$d]=$cls BS[$d]=$sz
		fi
	}
	op_chunked() { # POST, 2-5 PATCHes with Content-Range, PUT ?digest= (with or without a last chunk)
		local f=$t/chk n parts psize loc d off=0 p last len cls=$1 lastbody=()
		n=$((20000 + RANDOM * 15))
		head -c "$n" /dev/urandom >"$f"
		d=$(sha256_of "$f")
		parts=$((2 + RANDOM % 4))
		psize=$(((n + parts - 1) / parts))
		rm -f "$t"/part.*
		split -b "$psize" -a 2 -d "$f" "$t/part."
		cc -X POST "$base/v2/$repo/blobs/uploads/"
		step 202 "POST $repo" || return
		loc=$(h Location)
		case $loc in /v2/*) loc=$base$loc ;; esac
		local list=("$t"/part.*)
		last=${list[-1]}
		if [ $((RANDOM % 2)) = 0 ]; then
			lastbody=(-H 'Content-Type: application/octet-stream' --data-binary "@$last")
			unset 'list[-1]'
		fi
		for p in "${list[@]}"; do
			len=$(stat -c %s "$p")
			cc -X PATCH -H 'Content-Type: application/octet-stream' \
				-H "Content-Range: $off-$((off + len - 1))" --data-binary "@$p" "$loc"
			step 202 "PATCH $repo $off+$len" || return
			if [ "$(h Range)" != "0-$((off + len - 1))" ]; then
				echo "ERR step PATCH $repo $off+$len :: Range '$(h Range)', expected 0-$((off + len - 1))" >>"$J"
				return
			fi
			off=$((off + len))
			loc=$(h Location)
			case $loc in /v2/*) loc=$base$loc ;; esac
		done
		echo "TRY blob $repo $d" >>"$J"
		if [ ${#lastbody[@]} -gt 0 ]; then
			cc -X PUT "${lastbody[@]}" "$(with_query "$loc" "digest=$d")"
		else
			cc -X PUT "$(with_query "$loc" "digest=$d")"
		fi
		outcome 201 "blob $repo $d $cls $n" && BL[$d]=$cls BS[$d]=$n
	}
	op_manifest() { # a new image manifest of 2-4 layer blobs, by tag or by digest
		local layers=() k cfg f=$t/man d tg=- ref j
		for k in "${!BL[@]}"; do [ "${BL[$k]}" = layer ] && layers+=("$k"); done
		if [ ${#layers[@]} -lt 2 ]; then
			op_mono layer
			return
		fi
		cfg=${layers[RANDOM % ${#layers[@]}]}
		j=
		for ((k = 0; k < 1 + RANDOM % 3; k++)); do
			d=${layers[RANDOM % ${#layers[@]}]}
			j="$j${j:+,}{\"mediaType\":\"$MT_OCI_LAYER\",\"digest\":\"$d\",\"size\":${BS[$d]:-0}}"
		done
		printf '{"schemaVersion":2,"mediaType":"%s","config":{"mediaType":"%s","digest":"%s","size":%s},"layers":[%s],"annotations":{"n":"%s-%s-%s-%s"}}' \
			"$MT_OCI_MANIFEST" "$MT_OCI_CONFIG" "$cfg" "${BS[$cfg]:-0}" \
			"$j" "$i" "$r" "$RANDOM" "$RANDOM" >"$f"
		d=$(sha256_of "$f")
		cp "$f" "$W/m/${d#sha256:}"
		ref=$d
		if [ $((RANDOM % 3)) != 0 ]; then
			tg=t$((RANDOM % 6))
			ref=$tg
		fi
		put_man "$d" "$tg" "$ref"
	}
	put_man() { # put_man DIGEST TAG|- REF
		local d=$1 tg=$2 ref=$3
		echo "TRY man $repo $d $tg" >>"$J"
		cc -X PUT -H "Content-Type: $MT_OCI_MANIFEST" --data-binary "@$W/m/${d#sha256:}" \
			"$base/v2/$repo/manifests/$ref"
		if outcome 201 "man $repo $d $tg"; then
			[ "$(h Docker-Content-Digest)" = "$d" ] ||
				echo "ERR man $repo $d :: 201 with Docker-Content-Digest '$(h Docker-Content-Digest)'" >>"$J"
			MN[$d]=1
			[ "$tg" != - ] && TG[$tg]=$d
		fi
	}
	op_tagmove() { # an existing manifest under a (maybe existing) tag
		local m=("${!MN[@]}") d tg
		[ ${#m[@]} -gt 0 ] || { op_manifest; return; }
		d=${m[RANDOM % ${#m[@]}]}
		tg=t$((RANDOM % 6))
		put_man "$d" "$tg" "$tg"
	}
	op_mdel() {
		local m=("${!MN[@]}") d k
		[ ${#m[@]} -gt 0 ] || return
		d=${m[RANDOM % ${#m[@]}]}
		cc -X DELETE "$base/v2/$repo/manifests/$d"
		if outcome 202 "mdel $repo $d"; then
			unset "MN[$d]"
			for k in "${!TG[@]}"; do [ "${TG[$k]}" = "$d" ] && unset "TG[$k]"; done
		fi
	}
	op_tdel() {
		local ts=("${!TG[@]}") tg
		[ ${#ts[@]} -gt 0 ] || return
		tg=${ts[RANDOM % ${#ts[@]}]}
		cc -X DELETE "$base/v2/$repo/manifests/$tg"
		outcome 202 "tdel $repo $tg" && unset "TG[$tg]"
	}
	op_bdel() {
		local bs=() k d
		for k in "${!BL[@]}"; do [ "${BL[$k]}" = loose ] && bs+=("$k"); done
		[ ${#bs[@]} -gt 0 ] || return
		d=${bs[RANDOM % ${#bs[@]}]}
		cc -X DELETE "$base/v2/$repo/blobs/$d"
		outcome 202 "bdel $repo $d" && unset "BL[$d]"
	}

	while [ "$dead" = 0 ] && [ ! -e "$W/stop" ] && [ "$ops" -lt 400 ]; do
		ops=$((ops + 1))
		roll=$((RANDOM % 100))
		if [ "$roll" -lt 14 ]; then op_mono loose
		elif [ "$roll" -lt 26 ]; then op_mono layer
		elif [ "$roll" -lt 34 ]; then op_mono shared
		elif [ "$roll" -lt 42 ]; then op_chunked loose
		elif [ "$roll" -lt 50 ]; then op_chunked layer
		elif [ "$roll" -lt 68 ]; then op_manifest
		elif [ "$roll" -lt 80 ]; then op_tagmove
		elif [ "$roll" -lt 87 ]; then op_mdel
		elif [ "$roll" -lt 94 ]; then op_tdel
		else op_bdel
		fi
	done
}

# ---------------------------------------------------------------- the model
#
# B["repo digest"], M["repo digest"]: a set of possible states, "P"
# (present) and/or "A" (absent); T["repo tag"]: a set of digests and/or "A".
# Keys never seen are absent.  ATT_D: digests tried; ATT_RD: "repo digest"
# pairs tried.
declare -A B M T BCL BSZ ATT_D ATT_RD VERIFIED
set_add() { # set_add SET WORD
	case " $1 " in *" $2 "*) printf '%s' "$1" ;; *) printf '%s' "${1:+$1 }$2" ;; esac
}
set_has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }
set_repl() { # set_repl SET OLD NEW
	local w out=
	for w in $1; do
		[ "$w" = "$2" ] && w=$3
		out=$(set_add "$out" "$w")
	done
	printf '%s' "$out"
}
N_ACK=0
N_UNK=0
N_DEAD=0
apply_journal() { # apply_journal FILE: fold one client's round into the model; ERR/TIMEOUT lines are reported
	local kind op repo a b c k rest
	while read -r kind op repo a b c rest; do
		case $kind in
		TRY)
			ATT_D[$a]=1
			ATT_RD["$repo $a"]=1
			continue
			;;
		ERR | TIMEOUT)
			JERR+=("$kind $op $repo $a $b $c $rest")
			continue
			;;
		DEAD)
			N_DEAD=$((N_DEAD + 1))
			continue
			;;
		ACK) N_ACK=$((N_ACK + 1)) ;;
		UNK) N_UNK=$((N_UNK + 1)) ;;
		*) continue ;;
		esac
		case $kind.$op in
		ACK.blob) B["$repo $a"]=P BCL["$repo $a"]=$b BSZ["$repo $a"]=$c ;;
		UNK.blob) B["$repo $a"]=$(set_add "${B["$repo $a"]:-A}" P) BCL["$repo $a"]=$b BSZ["$repo $a"]=$c ;;
		ACK.bdel) B["$repo $a"]=A ;;
		UNK.bdel) B["$repo $a"]=$(set_add "${B["$repo $a"]:-A}" A) ;;
		ACK.man)
			M["$repo $a"]=P
			[ "$b" != - ] && T["$repo $b"]=$a
			;;
		UNK.man)
			M["$repo $a"]=$(set_add "${M["$repo $a"]:-A}" P)
			[ "$b" != - ] && T["$repo $b"]=$(set_add "${T["$repo $b"]:-A}" "$a")
			;;
		ACK.mdel | UNK.mdel)
			if [ "$kind" = ACK ]; then
				M["$repo $a"]=A
			else
				M["$repo $a"]=$(set_add "${M["$repo $a"]:-A}" A)
			fi
			for k in "${!T[@]}"; do
				[ "${k%% *}" = "$repo" ] && set_has "${T[$k]}" "$a" || continue
				if [ "$kind" = ACK ]; then
					T[$k]=$(set_repl "${T[$k]}" "$a" A)
				else
					T[$k]=$(set_add "${T[$k]}" A)
				fi
			done
			;;
		ACK.tdel) T["$repo $a"]=A ;;
		UNK.tdel) T["$repo $a"]=$(set_add "${T["$repo $a"]:-A}" A) ;;
		esac
	done <"$1"
}

# Write each client's certain state for the next round.
write_client_state() {
	local i k repo
	for ((i = 0; i < NCLI; i++)); do
		: >"$W/c$i/blobs"
		: >"$W/c$i/mans"
		: >"$W/c$i/tags"
	done
	for k in "${!B[@]}"; do
		repo=${k%% *}
		[ "${B[$k]}" = P ] && [ -d "$W/${repo#crash/}" ] && echo "${k#* } ${BCL[$k]:-loose} ${BSZ[$k]:-0}" >>"$W/${repo#crash/}/blobs"
	done
	for k in "${!M[@]}"; do
		repo=${k%% *}
		[ "${M[$k]}" = P ] && [ -d "$W/${repo#crash/}" ] && echo "${k#* }" >>"$W/${repo#crash/}/mans"
	done
	for k in "${!T[@]}"; do
		repo=${k%% *}
		case ${T[$k]} in A | *" "*) continue ;; esac
		[ -d "$W/${repo#crash/}" ] && echo "${k#* } ${T[$k]}" >>"$W/${repo#crash/}/tags"
	done
}

# fail_list DESC FILE: one assertion; FILE lists the problems (empty = ok).
# A problem already reported in an earlier round (a dangling row stays)
# is not counted again.
declare -A SEEN_PROBLEM
fail_list() {
	local line new=() old=0
	while IFS= read -r line; do
		if [ -n "${SEEN_PROBLEM[$line]:-}" ]; then
			old=$((old + 1))
		else
			SEEN_PROBLEM[$line]=1
			new+=("$line")
		fi
	done <"$2"
	if [ ${#new[@]} -eq 0 ]; then
		t_pass "$1"
		[ "$old" -gt 0 ] && echo "#   ($old problem(s) reported in an earlier round still there)"
	else
		t_fail "$1" "${#new[@]} new problem(s)$([ "$old" -gt 0 ] && echo ", $old reported earlier still there"), first ones:" "$(printf '%s\n' "${new[@]:0:12}")"
	fi
	return 0
}

# ---------------------------------------------------------------- checks

declare -A HASHED # "path inode size mtime" of blob files already hashed
# check_all ROUND-LABEL: everything after a restart.
check_all() { # check_all LABEL FULL: FULL=1 GETs every blob again
	local lbl=$1 full=${2:-0} k n=0 st fn dg cl v P=$TMP/chk
	local -a keys=()
	rm -rf "$V"
	mkdir -p "$V" "$P"
	# Blobs already seen intact and certainly present get a HEAD (status,
	# length, digest): their bytes are the file's, which the walk below
	# hashes again whenever it changes.  Everything else gets a GET.
	{
		echo "silent"
		echo "max-time = 60"
		echo "header = \"Accept: $MT_OCI_MANIFEST\""
		echo "write-out = \"%{http_code} %{filename_effective} %header{docker-content-digest} %header{content-length}\\n\""
	} | tee "$P/cfg.head" >"$P/cfg"
	echo "head" >>"$P/cfg.head"
	for k in "${!B[@]}"; do
		keys[n]="B $k"
		if [ "$full" = 0 ] && [ "${B[$k]}" = P ] && [ -n "${VERIFIED["B $k"]:-}" ]; then
			printf 'url = "%s/v2/%s/blobs/%s"\noutput = "%s/%d"\n' "$BASE" "${k%% *}" "${k#* }" "$V" "$n" >>"$P/cfg.head"
		else
			printf 'url = "%s/v2/%s/blobs/%s"\noutput = "%s/%d"\n' "$BASE" "${k%% *}" "${k#* }" "$V" "$n" >>"$P/cfg"
		fi
		n=$((n + 1))
	done
	for k in "${!M[@]}"; do
		keys[n]="M $k"
		printf 'url = "%s/v2/%s/manifests/%s"\noutput = "%s/%d"\n' "$BASE" "${k%% *}" "${k#* }" "$V" "$n" >>"$P/cfg"
		n=$((n + 1))
	done
	for k in "${!T[@]}"; do
		keys[n]="T $k"
		printf 'url = "%s/v2/%s/manifests/%s"\noutput = "%s/%d"\n' "$BASE" "${k%% *}" "${k#* }" "$V" "$n" >>"$P/cfg"
		n=$((n + 1))
	done
	local -A GOT_ST GOT_DCD GOT_SUM GOT_CL IS_HEAD
	local nhead=0
	if [ "$n" -gt 0 ]; then
		curl -K "$P/cfg" </dev/null >"$P/wo" 2>"$P/curl.err"
		while read -r st fn dg cl; do
			GOT_ST[${fn##*/}]=$st
			GOT_DCD[${fn##*/}]=$dg
		done <"$P/wo"
		if grep -q '^url' "$P/cfg.head"; then
			curl -K "$P/cfg.head" </dev/null >"$P/wo.head" 2>>"$P/curl.err"
			while read -r st fn dg cl; do
				GOT_ST[${fn##*/}]=$st
				GOT_DCD[${fn##*/}]=$dg
				GOT_CL[${fn##*/}]=$cl
				IS_HEAD[${fn##*/}]=1
				nhead=$((nhead + 1))
			done <"$P/wo.head"
		fi
		(cd "$V" && find . -type f -printf '%P\0' | xargs -0 -r sha256sum) >"$P/sums"
		while read -r v fn; do GOT_SUM[$fn]=sha256:$v; done <"$P/sums"
	fi
	# 1. the API agrees with the journal
	: >"$P/bad.api"
	local kind key want obs nb=0 nm=0 nt=0
	for ((k = 0; k < n; k++)); do
		kind=${keys[k]%% *}
		key=${keys[k]#* }
		st=${GOT_ST[$k]:-none}
		case $kind in
		B) want=${B[$key]} nb=$((nb + 1)) ;;
		M) want=${M[$key]} nm=$((nm + 1)) ;;
		T) want=${T[$key]} nt=$((nt + 1)) ;;
		esac
		if [ "$st" = 404 ]; then
			obs=A
		elif [ "$st" = 200 ] && [ -n "${IS_HEAD[$k]:-}" ]; then
			obs=P
			if [ "${GOT_DCD[$k]}" != "${key#* }" ] || [ "${GOT_CL[$k]}" != "${BSZ[$key]:-?}" ]; then
				echo "$kind $key: HEAD 200 with Docker-Content-Digest '${GOT_DCD[$k]}', Content-Length '${GOT_CL[$k]}' (pushed ${BSZ[$key]:-?} bytes)" >>"$P/bad.api"
				continue
			fi
		elif [ "$st" = 200 ]; then
			obs=${GOT_SUM[$k]:-nobody}
			case $kind in
			B | M)
				if [ "$obs" != "${key#* }" ]; then
					echo "$kind $key: served 200 with bytes hashing to $obs" >>"$P/bad.api"
					continue
				fi
				obs=P
				;;
			T)
				if [ "${GOT_DCD[$k]}" != "$obs" ]; then
					echo "tag $key: Docker-Content-Digest '${GOT_DCD[$k]}' but the bytes hash to $obs" >>"$P/bad.api"
				fi
				;;
			esac
		else
			echo "$kind $key: status $st (curl: $(head -c 200 "$P/curl.err"))" >>"$P/bad.api"
			continue
		fi
		if ! set_has "$want" "$obs"; then
			case $kind in
			B) echo "blob $key: observed $obs, the journal allows {$want} (P=served, A=404)" >>"$P/bad.api" ;;
			M) echo "manifest $key: observed $obs, the journal allows {$want} (P=served, A=404)" >>"$P/bad.api" ;;
			T) echo "tag $key: observed $obs, the journal allows {$want} (A=404)" >>"$P/bad.api" ;;
			esac
		fi
		# what was observed is now the state (it was committed)
		if [ "$obs" = A ]; then
			unset "VERIFIED[${keys[k]}]"
		else
			VERIFIED[${keys[k]}]=1
		fi
		case $kind in
		B) B[$key]=$obs ;;
		M) M[$key]=$obs ;;
		T) T[$key]=$obs ;;
		esac
	done
	fail_list "$lbl: $nb blobs ($((nb - nhead)) GET, $nhead HEAD), $nm manifests, $nt tags served as the journal says (2xx'd = exact digest)" "$P/bad.api"

	# 2. every blob file hashes to its name and is a digest someone tried
	: >"$P/bad.files"
	: >"$P/new"
	local path ino size mt rel
	local -A FSZ=() USZ=()
	while read -r rel ino size mt; do
		if ! [[ $rel =~ ^sha256/([0-9a-f]{2})/([0-9a-f]{64})$ ]] || [ "${BASH_REMATCH[1]}" != "${rel:7:2}" ]; then
			echo "unexpected file blobs/$rel ($size bytes)" >>"$P/bad.files"
			continue
		fi
		FSZ[sha256:${rel##*/}]=$size
		if [ -z "${ATT_D[sha256:${rel##*/}]:-}" ]; then
			echo "blobs/$rel: a digest no client ever tried to push ($size bytes)" >>"$P/bad.files"
		fi
		[ -n "${HASHED["$rel $ino $size $mt"]:-}" ] && continue
		printf '%s\0' "$rel" >>"$P/new"
		HASHED["$rel $ino $size $mt"]=1
	done < <(find "$ROOT/blobs" -type f -printf '%P %i %s %T@\n')
	find "$ROOT/blobs" -mindepth 1 ! -type f ! -type d -printf 'not a regular file: blobs/%P\n' >>"$P/bad.files"
	local nh=0
	if [ -s "$P/new" ]; then
		while read -r v path; do
			nh=$((nh + 1))
			[ "$v" = "${path##*/}" ] || echo "blobs/$path: content hashes to sha256:$v" >>"$P/bad.files"
		done < <(cd "$ROOT/blobs" && xargs -0 sha256sum <"$P/new")
	fi
	fail_list "$lbl: every blob file's content hashes to its name, none unexpected ($nh new files hashed, ${#FSZ[@]} in all)" "$P/bad.files"

	# 3. metadata rows vs files
	: >"$P/bad.rows"
	local d sz id rp
	while read -r rel size; do USZ[$rel]=$size; done < <(find "$ROOT/uploads" -maxdepth 1 -type f -printf '%P %s\n')
	while IFS='|' read -r d sz; do
		if [ -z "${FSZ[$d]:-}" ]; then
			echo "blobs row $d ($sz bytes): no file" >>"$P/bad.rows"
		elif [ "${FSZ[$d]}" != "$sz" ]; then
			echo "blobs row $d says $sz bytes, the file has ${FSZ[$d]}" >>"$P/bad.rows"
		fi
		[ -n "${ATT_D[$d]:-}" ] || echo "blobs row $d: a digest no client ever tried to push" >>"$P/bad.rows"
	done < <(db "SELECT digest, size FROM blobs")
	while IFS='|' read -r d sz; do
		if [ -z "${FSZ[$d]:-}" ]; then
			echo "manifests row $d: no file" >>"$P/bad.rows"
		elif [ "${FSZ[$d]}" != "$sz" ]; then
			echo "manifests row $d: size $sz, file ${FSZ[$d]}" >>"$P/bad.rows"
		fi
	done < <(db "SELECT DISTINCT digest, size FROM manifests")
	while IFS='|' read -r id sz rp; do
		if [ -z "${USZ[$id]:-}" ]; then
			echo "uploads row $id ($rp, size $sz): no spool file uploads/$id" >>"$P/bad.rows"
		elif [ "${USZ[$id]}" -lt "$sz" ]; then
			echo "uploads row $id: size $sz, spool has ${USZ[$id]}" >>"$P/bad.rows"
		fi
	done < <(db "SELECT id, size, repo FROM uploads")
	db "SELECT 'tag '||r.name||':'||t.name||' -> '||t.digest||': no manifest row' FROM tags t JOIN repositories r ON r.id=t.repo_id
	    WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id=t.repo_id AND m.digest=t.digest)" >>"$P/bad.rows"
	db "SELECT 'manifest '||m.digest||': no blobs row' FROM manifests m WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest=m.digest)" >>"$P/bad.rows"
	db "SELECT 'manifest '||mr.digest||' references '||mr.ref||': no blobs row' FROM manifest_refs mr
	    WHERE mr.is_manifest=0 AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest=mr.ref)" >>"$P/bad.rows"
	db "SELECT 'manifest_refs '||mr.digest||': no manifest row' FROM manifest_refs mr
	    WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repo_id=mr.repo_id AND m.digest=mr.digest)" >>"$P/bad.rows"
	if [ -n "$E2E_PG_DB_URL" ]; then
		# PostgreSQL checks the foreign keys at every statement; these
		# are the rows they would refuse.  (The database server is not
		# what the test kills: no integrity check of its own files.)
		db "SELECT 'foreign key: repo_blobs '||rb.repo_id||' '||rb.digest FROM repo_blobs rb
		    WHERE NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest=rb.digest)
		    OR NOT EXISTS (SELECT 1 FROM repositories r WHERE r.id=rb.repo_id)
		    UNION ALL SELECT 'foreign key: manifests '||m.repo_id||' '||m.digest FROM manifests m
		    WHERE NOT EXISTS (SELECT 1 FROM repositories r WHERE r.id=m.repo_id)
		    UNION ALL SELECT 'foreign key: tags '||t.repo_id||' '||t.name FROM tags t
		    WHERE NOT EXISTS (SELECT 1 FROM repositories r WHERE r.id=t.repo_id)" >>"$P/bad.rows"
	else
		db "PRAGMA foreign_key_check" | sed 's/^/foreign_key_check: /' >>"$P/bad.rows"
		v=$(db "PRAGMA integrity_check")
		[ "$v" = ok ] || echo "integrity_check: $v" >>"$P/bad.rows"
	fi
	while IFS='|' read -r k d; do
		[ -n "${ATT_RD["$k $d"]:-}" ] || echo "repo_blobs: $k holds $d, which no client tried to push there" >>"$P/bad.rows"
	done < <(db "SELECT r.name, rb.digest FROM repo_blobs rb JOIN repositories r ON r.id=rb.repo_id")
	fail_list "$lbl: no row points at a missing file or row; every repository link was tried ($(db 'SELECT count(*) FROM blobs') blobs rows, $(db 'SELECT count(*) FROM manifests') manifests, $(db 'SELECT count(*) FROM uploads') upload sessions)" "$P/bad.rows"

	# 4. the tables agree with what the API showed
	: >"$P/bad.tables"
	local -A DBM DBT
	while IFS='|' read -r k d; do DBM["$k $d"]=1; done < <(db "SELECT r.name, m.digest FROM manifests m JOIN repositories r ON r.id=m.repo_id WHERE r.name LIKE 'crash/c%'")
	while IFS='|' read -r k tg d; do DBT["$k $tg"]=$d; done < <(db "SELECT r.name, t.name, t.digest FROM tags t JOIN repositories r ON r.id=t.repo_id WHERE r.name LIKE 'crash/c%'")
	for k in "${!DBM[@]}"; do [ "${M[$k]:-A}" = P ] || echo "manifests row $k, but the API said {${M[$k]:-never pushed}}" >>"$P/bad.tables"; done
	for k in "${!M[@]}"; do [ "${M[$k]}" = P ] && [ -z "${DBM[$k]:-}" ] && echo "manifest $k served but no row" >>"$P/bad.tables"; done
	for k in "${!DBT[@]}"; do [ "${T[$k]:-A}" = "${DBT[$k]}" ] || echo "tags row $k -> ${DBT[$k]}, the API said {${T[$k]:-never pushed}}" >>"$P/bad.tables"; done
	fail_list "$lbl: manifests and tags tables match what was served" "$P/bad.tables"
}

# ---------------------------------------------------------------- resumable sessions

# Before the kill: session 1 has its first part PATCHed (202); session 2
# has a first part PATCHed and a second PATCH in flight (rate-limited).
RS_PID=
resume_prepare() {
	RS1_F=$TMP/rs1
	RS2_F=$TMP/rs2
	mkblob "$RS1_F" $((200000 + RANDOM * 10))
	mkblob "$RS2_F" $((700000 + RANDOM))
	RS1_D=$(sha256_of "$RS1_F")
	RS2_D=$(sha256_of "$RS2_F")
	RS1_H=$((1 + RANDOM % 150000))
	RS2_H=$((1 + RANDOM % 100000))
	slice "$RS1_F" 0 "$RS1_H" "$TMP/rs1.a"
	slice "$RS2_F" 0 "$RS2_H" "$TMP/rs2.a"
	slice "$RS2_F" "$RS2_H" $(($(fsize "$RS2_F") - RS2_H)) "$TMP/rs2.b"
	RS1_ID=
	RS2_ID=
	upload_start crash/resume || return
	RS1_ID=$UPLOAD_ID
	req PATCH "$UPLOAD_LOC" -H 'Content-Type: application/octet-stream' -H "Content-Range: 0-$((RS1_H - 1))" --data-binary "@$TMP/rs1.a"
	[ "$STATUS" = 202 ] || t_fail "resume session 1: first PATCH (status 202)" "status $STATUS $(head -c 300 "$BODY")"
	upload_start crash/resume || return
	RS2_ID=$UPLOAD_ID
	req PATCH "$UPLOAD_LOC" -H 'Content-Type: application/octet-stream' -H "Content-Range: 0-$((RS2_H - 1))" --data-binary "@$TMP/rs2.a"
	[ "$STATUS" = 202 ] || t_fail "resume session 2: first PATCH (status 202)" "status $STATUS $(head -c 300 "$BODY")"
	curl -s --max-time 20 --limit-rate 150k -o /dev/null -X PATCH -H 'Content-Type: application/octet-stream' \
		-H "Content-Range: $RS2_H-$(($(fsize "$RS2_F") - 1))" --data-binary "@$TMP/rs2.b" "$UPLOAD_LOC" </dev/null &
	RS_PID=$!
}

# resume_finish LABEL ID FILE DIGEST MIN-END: GET status, PATCH or PUT the
# rest from the reported Range, PUT, GET.
resume_finish() {
	local lbl=$1 id=$2 f=$3 d=$4 min=$5 loc got end total
	total=$(fsize "$f")
	loc=$BASE/v2/crash/resume/blobs/uploads/$id
	req GET "$loc"
	assert_status 204 "$lbl: upload status after SIGKILL and restart"
	got=$(hdr Range)
	end=${got#0-}
	if [[ $got =~ ^0-[0-9]+$ ]] && [ "$end" -ge "$min" ] && [ "$end" -lt "$total" ]; then
		t_pass "$lbl: Range $got kept (acknowledged 0-$min of $total)"
	else
		t_fail "$lbl: Range 0-n with $min <= n < $total after the restart" "Range: '$got' (status $STATUS)"
		return
	fi
	slice "$f" $((end + 1)) $((total - end - 1)) "$TMP/rest"
	if [ $((RANDOM % 2)) = 0 ] && [ "$end" -lt $((total - 1)) ]; then
		req PATCH "$loc" -H 'Content-Type: application/octet-stream' -H "Content-Range: $((end + 1))-$((total - 1))" --data-binary "@$TMP/rest"
		assert_status 202 "$lbl: PATCH of the rest from offset $((end + 1))"
		req PUT "$(with_query "$loc" "digest=$d")"
	else
		req PUT "$(with_query "$loc" "digest=$d")" -H 'Content-Type: application/octet-stream' --data-binary "@$TMP/rest"
	fi
	assert_status 201 "$lbl: PUT closes the resumed session"
	assert_eq "$(hdr Docker-Content-Digest)" "$d" "$lbl: PUT answers the digest"
	req GET "/v2/crash/resume/blobs/$d"
	assert_status 200 "$lbl: the resumed blob is served"
	assert_body_digest "$d" "$lbl: the resumed blob"
	ATT_D[$d]=1
	ATT_RD["crash/resume $d"]=1
	[ "$STATUS" = 200 ] && B["crash/resume $d"]=P BSZ["crash/resume $d"]=$total
}

resume_check() {
	[ -n "$RS_PID" ] && { wait "$RS_PID" 2>/dev/null; RS_PID=; }
	[ -n "$RS1_ID" ] && resume_finish "$1 session 1" "$RS1_ID" "$RS1_F" "$RS1_D" $((RS1_H - 1))
	[ -n "$RS2_ID" ] && resume_finish "$1 session 2 (PATCH in flight at the kill)" "$RS2_ID" "$RS2_F" "$RS2_D" $((RS2_H - 1))
}

# ---------------------------------------------------------------- the burst
#
# Just before the kill, BURST (12) pushes of 256 KiB-2 MiB start at once
# into crash/burst: half monolithic POSTs, half closing PUTs (with the last
# half as body) of sessions prepared while the clients ran.  The kill
# follows 0-60 ms later, so some are caught after their body arrived:
# digest check, fsync, rename into blobs/, metadata commit.
NBURST=${CRASH_BURST:-12}
burst_prepare() {
	local j n f h
	BU_F=() BU_D=() BU_L=() BU_H=()
	mkdir -p "$W/burst"
	for ((j = 0; j < NBURST; j++)); do
		f=$W/burst/f$j
		n=$((262144 + RANDOM * 56))
		mkblob "$f" "$n"
		BU_F[j]=$f
		BU_D[j]=$(sha256_of "$f")
		BU_L[j]=
		[ $((j % 2)) = 1 ] || continue
		h=$((n / 2))
		slice "$f" 0 "$h" "$f.a"
		slice "$f" "$h" $((n - h)) "$f.b"
		req POST "/v2/crash/burst/blobs/uploads/"
		[ "$STATUS" = 202 ] || { BU_D[j]=; continue; }
		BU_L[j]=$(hdr Location)
		BU_H[j]=$h
		req PATCH "$(loc_url "${BU_L[j]}")" -H 'Content-Type: application/octet-stream' -H "Content-Range: 0-$((h - 1))" --data-binary "@$f.a"
		[ "$STATUS" = 202 ] || BU_D[j]=
	done
}
# burst_one J JOURNAL: one push, journaled like a client's.
burst_one() {
	local j=$1 J=$2 d=${BU_D[$1]} o st ce
	echo "TRY blob crash/burst $d" >>"$J"
	if [ -n "${BU_L[j]}" ]; then
		o=$(curl -s --max-time 15 -o /dev/null -w '%{http_code} %{exitcode}' -X PUT \
			-H 'Content-Type: application/octet-stream' --data-binary "@${BU_F[j]}.b" \
			"$(with_query "$BASE${BU_L[j]}" "digest=$d")" </dev/null)
	else
		o=$(curl -s --max-time 15 -o /dev/null -w '%{http_code} %{exitcode}' -X POST \
			-H 'Content-Type: application/octet-stream' --data-binary "@${BU_F[j]}" \
			"$BASE/v2/crash/burst/blobs/uploads/?digest=$d" </dev/null)
	fi
	st=${o%% *}
	ce=${o##* }
	[ "$ce" != 0 ] && st=000
	case $st in
	201) echo "ACK blob crash/burst $d loose $(fsize "${BU_F[j]}")" >>"$J" ;;
	000)
		case $ce in
		7) echo "DEAD blob crash/burst $d" >>"$J" ;;
		28) echo "TIMEOUT blob crash/burst $d" >>"$J" ;;
		*) echo "UNK blob crash/burst $d loose $(fsize "${BU_F[j]}") (curl exit $ce)" >>"$J" ;;
		esac
		;;
	*) echo "ERR blob crash/burst $d :: status $st" >>"$J" ;;
	esac
}
burst_fire() { # burst_fire ROUND: sets BURST_PIDS
	local j
	BURST_PIDS=()
	for ((j = 0; j < NBURST; j++)); do
		[ -n "${BU_D[j]}" ] || continue
		burst_one "$j" "$W/burst/j.$1" &
		BURST_PIDS+=($!)
	done
}

# burst_retry LABEL ROUND: a closing PUT that got no answer is what a
# client retries.  The session is either gone (then the PUT committed and
# the blob must be served) or still there with its Range as before the PUT
# (then the PUT again must give 201).
burst_retry() {
	local lbl=$1 r=$2 j d loc bad=() ok=0
	for ((j = 0; j < NBURST; j++)); do
		[ -n "${BU_L[j]}" ] && [ -n "${BU_D[j]}" ] || continue
		d=${BU_D[j]}
		grep -q "^UNK blob crash/burst $d " "$W/burst/j.$r" 2>/dev/null || continue
		loc=$BASE${BU_L[j]}
		req GET "$loc"
		if [ "$STATUS" = 404 ]; then
			req GET "/v2/crash/burst/blobs/$d"
			if [ "$STATUS" = 200 ] && [ "$(body_sha256)" = "$d" ]; then
				ok=$((ok + 1))
				B["crash/burst $d"]=P
			else
				bad+=("session ${BU_L[j]##*/} is gone after a PUT without answer, but its blob $d is not served (status $STATUS)")
			fi
			continue
		fi
		if [ "$STATUS" != 204 ] || [ "$(hdr Range)" != "0-$((BU_H[j] - 1))" ]; then
			bad+=("session ${BU_L[j]##*/}: status $STATUS, Range '$(hdr Range)' (0-$((BU_H[j] - 1)) before the PUT)")
			continue
		fi
		req PUT "$(with_query "$loc" "digest=$d")" -H 'Content-Type: application/octet-stream' --data-binary "@${BU_F[j]}.b"
		if [ "$STATUS" != 201 ] || [ "$(hdr Docker-Content-Digest)" != "$d" ]; then
			bad+=("session ${BU_L[j]##*/} ($((BU_H[j])) bytes): GET said 204 Range 0-$((BU_H[j] - 1)), the PUT retried with the rest answers $STATUS $(head -c 200 "$BODY"); blob file $([ -f "$(blob_path "$d")" ] && echo present || echo absent), blobs row: $(db "SELECT count(*) FROM blobs WHERE digest='$d'")")
			continue
		fi
		req GET "/v2/crash/burst/blobs/$d"
		if [ "$STATUS" = 200 ] && [ "$(body_sha256)" = "$d" ]; then
			ok=$((ok + 1))
			B["crash/burst $d"]=P
			BSZ["crash/burst $d"]=$(fsize "${BU_F[j]}")
		else
			bad+=("session ${BU_L[j]##*/}: PUT retried gave 201 but GET blob answers $STATUS")
		fi
	done
	[ $((ok + ${#bad[@]})) -gt 0 ] || return 0
	if [ ${#bad[@]} -eq 0 ]; then
		t_pass "$lbl: $ok closing PUT(s) cut by the kill: retried or found committed"
	else
		t_fail "$lbl: closing PUTs cut by the kill can be retried (session kept) or are committed (session gone)" "$(printf '%s\n' "${bad[@]}")"
	fi
}

# ---------------------------------------------------------------- rounds

kill9() {
	local pid=$DAEMON_PID
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	DAEMON_PID=
	if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' "$LOG"; then
		t_fail "daemon #$DAEMON_STARTS log has no sanitizer report" "$(grep -E -A30 'ERROR: |runtime error:' "$LOG" | head -n 60)"
	fi
}

run_mode() {
	local mode=$1 r i pids ms bms t0 j
	E2E_SYNC=$mode
	ROOT=$TMP/var-sync-$mode
	W=$TMP/w-$mode
	V=$TMP/v
	# Each mode starts on an empty root; on PostgreSQL the metadata of
	# the mode before goes too (the daemon creates the schema again),
	# as a new root's meta.db would be new.
	if [ -n "$E2E_PG_DB_URL" ]; then
		db "DROP TABLE IF EXISTS tags, manifest_refs, manifests, repo_blobs, blobs, uploads,
		    repositories, ociregd_schema CASCADE" >/dev/null
	fi
	e2e_config
	B=() M=() T=() BCL=() BSZ=() ATT_D=() ATT_RD=() HASHED=() SEEN_PROBLEM=() VERIFIED=()
	mkdir -p "$W/shared" "$W/m"
	for ((i = 0; i < 6; i++)); do mkblob "$W/shared/$i" $((1000 + i * 40000)); done
	for ((i = 0; i < NCLI; i++)); do
		mkdir -p "$W/c$i"
		: >"$W/c$i/blobs"
		: >"$W/c$i/mans"
		: >"$W/c$i/tags"
	done
	echo "# ==== [storage] sync = $mode"
	daemon_start
	for ((r = 1; r <= ROUNDS; r++)); do
		t0=$(date +%s%N)
		rm -f "$W/stop"
		resume_prepare
		burst_prepare
		pids=()
		for ((i = 0; i < NCLI; i++)); do
			client "$i" "$r" "$BASE" $((SEED + r * 1000 + i)) &
			pids+=($!)
		done
		ms=$((300 + RANDOM % 1500))
		sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
		burst_fire "$r"
		bms=$((RANDOM % 60))
		sleep "0.$(printf %03d "$bms")"
		kill9
		touch "$W/stop"
		# the clients see the connection go and stop; bounded anyway
		for ((j = 0; j < 200; j++)); do
			local alive=0
			for i in "${pids[@]}"; do kill -0 "$i" 2>/dev/null && alive=1; done
			[ "$alive" = 0 ] && break
			sleep 0.1
		done
		if [ "$alive" = 1 ]; then
			t_fail "sync=$mode round $r: client loops stop within 20 s of the kill"
			for i in "${pids[@]}"; do kill -TERM "$i" 2>/dev/null; done
		fi
		for i in "${pids[@]}" "${BURST_PIDS[@]}"; do wait "$i" 2>/dev/null; done
		JERR=()
		local a0=$N_ACK u0=$N_UNK d0=$N_DEAD
		for ((i = 0; i < NCLI; i++)); do
			[ -f "$W/c$i/j.$r" ] && apply_journal "$W/c$i/j.$r"
		done
		[ -f "$W/burst/j.$r" ] && apply_journal "$W/burst/j.$r"
		if [ ${#JERR[@]} -eq 0 ]; then
			t_pass "sync=$mode round $r: every request before the kill got its expected status"
		else
			t_fail "sync=$mode round $r: every request before the kill got its expected status" "${JERR[@]:0:10}"
		fi
		daemon_start
		echo "# sync=$mode round $r: killed ${bms} ms into the burst, $((ms + bms)) ms after the clients started; $((N_ACK - a0)) acknowledged, $((N_UNK - u0)) in flight, $((N_DEAD - d0)) refused"
		resume_check "sync=$mode round $r:"
		burst_retry "sync=$mode round $r" "$r"
		check_all "sync=$mode round $r" "$([ "$r" = "$ROUNDS" ] && echo 1 || echo 0)"
		write_client_state
		echo "# sync=$mode round $r took $((($(date +%s%N) - t0) / 1000000)) ms"
	done
	assert_no_5xx "sync=$mode: no 5xx answered in any round"
	daemon_stop
}

for m in "${MODES[@]}"; do
	run_mode "$m"
done
echo "# total $(($(date +%s) - T_START)) s; $N_ACK acknowledged operations, $N_UNK in flight at a kill, $N_DEAD refused"
e2e_finish
