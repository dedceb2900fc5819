# bash completion for xdpfwd. Made from its command table by `xdpfwd help
# bash-completion` (make completion): edit the table, not this file.

# The public side of each mapping of protocol $1 (tcp, udp, both), as del
# takes it: PORT[-PORT] for a wildcard, ADDR:PORT[-PORT] for an address;
# from `$2 ${@:3} list --json`.
_xdpfwd_mapped() {
	"$2" "${@:3}" list --json 2>/dev/null | jq -r --arg p "$1" '.[]
		| select($p == "both" or .proto == $p)
		| (if .public_port_end > .public_port then "\(.public_port)-\(.public_port_end)"
		   else "\(.public_port)" end) as $ports
		| if .public_addr == null then $ports
		  elif .family == "ipv6" then "[\(.public_addr)]:\($ports)"
		  else "\(.public_addr):\($ports)" end' 2>/dev/null
}

_xdpfwd() {
	# Words as typed, without COMP_WORDBREAKS splitting ADDR:PORT.
	local line=${COMP_LINE:0:COMP_POINT} cmd= nargs=0 i
	local -a w
	read -ra w <<<"$line"
	[[ $line == *[[:space:]] || ${#w[@]} == 0 ]] && w+=("")
	local cur=${w[-1]} prev=
	((${#w[@]} < 2)) || prev=${w[-2]}
	COMPREPLY=()
	case $prev in
	--pin-dir)
		compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	--tunnel)
		COMPREPLY=($(compgen -W "$(command ls /sys/class/net 2>/dev/null)" -- "$cur"))
		return ;;
	--mode)
		COMPREPLY=($(compgen -W "native generic" -- "$cur"))
		return ;;
	--metrics)
		:
		return ;;
	--fast-path)
		COMPREPLY=($(compgen -W "on off" -- "$cur"))
		return ;;
	--allow)
		:
		return ;;
	--rate)
		:
		return ;;
	--new-rate)
		:
		return ;;
	--ttl)
		:
		return ;;
	--clients)
		:
		return ;;
	--state-dir)
		compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -d -- "$cur"))
		return ;;
	--capacity)
		:
		return ;;
	--config)
		compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--pcp)
		:
		return ;;
	--pcp-pool)
		:
		return ;;
	--pcp-quota)
		:
		return ;;
	--pcp-lifetime)
		:
		return ;;
	--pcp-reuse-delay)
		:
		return ;;
	--pcp-rate)
		:
		return ;;
	--pcp-internal-port-0)
		COMPREPLY=($(compgen -W "refuse symmetric" -- "$cur"))
		return ;;
	--pcp-hook)
		:
		return ;;
	--fleet)
		:
		return ;;
	--gateway)
		:
		return ;;
	--fleet-cert)
		compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--fleet-key)
		compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--fleet-ca)
		compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--fleet-user)
		:
		return ;;
	--port)
		:
		return ;;
	--days)
		:
		return ;;
	esac
	local -a args=() gopts=()
	for ((i = 1; i < ${#w[@]} - 1; i++)); do
		case ${w[i]} in
		--pin-dir|--state-dir) gopts+=("${w[i]}" "${w[i + 1]}"); ((i++)) ;;
		--tunnel|--mode|--metrics|--fast-path|--allow|--rate|--new-rate|--ttl|--clients|--capacity|--config|--pcp|--pcp-pool|--pcp-quota|--pcp-lifetime|--pcp-reuse-delay|--pcp-rate|--pcp-internal-port-0|--pcp-hook|--fleet|--gateway|--fleet-cert|--fleet-key|--fleet-ca|--fleet-user|--port|--days) ((i++)) ;;
		-*) ;;
		*) if [ -z "$cmd" ]; then cmd=${w[i]}; else args+=("${w[i]}"); ((nargs++)); fi ;;
		esac
	done
	case $cmd in
	"")
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--pin-dir --state-dir --verbose --version --help" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "attach detach add del list stats load serve check fleet help" -- "$cur"))
		fi ;;
	attach)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--tunnel --mode --fast-path --clients --capacity --replace --pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		0) COMPREPLY=($(compgen -W "$(command ls /sys/class/net 2>/dev/null)" -- "$cur")) ;;
		esac ;;
	detach)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--purge --purge-state --pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		0) COMPREPLY=($(compgen -W "$(command ls /sys/class/net 2>/dev/null)" -- "$cur")) ;;
		esac ;;
	add)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--allow --rate --new-rate --ttl --force --pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		0) COMPREPLY=($(compgen -W "tcp udp both" -- "$cur")) ;;
		esac ;;
	del)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		0) COMPREPLY=($(compgen -W "tcp udp both" -- "$cur")) ;;
		1) COMPREPLY=($(compgen -W "$(_xdpfwd_mapped "${args[0]}" "${w[0]}" "${gopts[@]}")" -- "$cur"))
			[[ $cur != *:* ]] || COMPREPLY=("${COMPREPLY[@]#"${cur%:*}:"}") ;;
		esac ;;
	list)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--json --pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		esac ;;
	stats)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--json --watch --pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		esac ;;
	load)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--force --pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		0) compopt -o filenames 2>/dev/null; COMPREPLY=($(compgen -f -- "$cur")) ;;
		esac ;;
	serve)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--metrics --config --pcp --pcp-pool --pcp-quota --pcp-lifetime --pcp-reuse-delay --pcp-rate --pcp-internal-port-0 --pcp-hook --fleet --gateway --fleet-cert --fleet-key --fleet-ca --fleet-user --pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		esac ;;
	check)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--json --metrics --pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		esac ;;
	fleet)
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "--fleet --json --fleet-cert --fleet-key --fleet-ca --fleet-user --port --days --pin-dir --state-dir --verbose --version --help" -- "$cur"))
			return
		fi
		case $nargs in
		0) COMPREPLY=($(compgen -W "add del status" -- "$cur")) ;;
		esac ;;
	help)
		[ "$nargs" != 0 ] || COMPREPLY=($(compgen -W "attach detach add del list stats load serve check fleet help" -- "$cur")) ;;
	esac
}
complete -F _xdpfwd xdpfwd
