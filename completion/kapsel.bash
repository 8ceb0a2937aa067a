# bash completion for kapsel: verbs, management spellings, container/image/volume/network names.
# Install: cp completion/kapsel.bash /usr/share/bash-completion/completions/kapsel
_kapsel() {
        local cur prev words cword
        _init_completion 2>/dev/null || { cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
        local verbs="run create start stop restart kill rm ps logs exec attach wait inspect pause unpause rename top stats
                     cp commit port images pull push rmi tag history load save import container image volume network system vm"
        local root=()
        local i
        for ((i = 1; i < cword; i++)); do
                [ "${words[i]}" = --root ] && root=(--root "${words[i+1]}")
        done
        if [ "$cword" -eq 1 ] || { [ "$cword" -eq 3 ] && [ "${words[1]}" = --root ]; }; then
                COMPREPLY=($(compgen -W "$verbs --root --debug --help --version" -- "$cur"))
                return
        fi
        local verb=${words[1]} vi=1
        [ "$verb" = --root ] && verb=${words[3]} && vi=3
        # options: each verb's own option table (kapsel --complete-options VERB [SUB])
        if [[ $cur == -* ]]; then
                local spell=("$verb")
                case $verb in container|image|volume|network|system|vm) spell+=("${words[vi+1]}") ;; esac
                COMPREPLY=($(compgen -W "$(kapsel --complete-options "${spell[@]}" 2>/dev/null)" -- "$cur"))
                return
        fi
        # only the containers a verb can act on: exec, attach, stop... offer running ones
        local sub=$verb argi=$((vi + 1)) state=()
        [ "$verb" = container ] && sub=${words[vi+1]} && argi=$((vi + 2))
        case $sub in
        exec|attach|stop|pause|kill|top|port) state=(-f status=running) ;;
        unpause) state=(-f status=paused) ;;
        start) state=(-f status=created -f status=exited) ;;
        esac
        if [ "$cword" -ge "$argi" ] && [ ${#state[@]} -gt 0 ]; then
                COMPREPLY=($(compgen -W "$(kapsel "${root[@]}" ps "${state[@]}" --format '{{.Names}}' 2>/dev/null)" -- "$cur"))
                return
        fi
        case $verb in
        container) COMPREPLY=($(compgen -W "ls run create start stop restart kill rm logs exec attach wait inspect pause unpause rename top stats prune cp commit port" -- "$cur")) ;;
        image) COMPREPLY=($(compgen -W "ls pull push rm tag inspect history prune load save import" -- "$cur")) ;;
        volume) COMPREPLY=($(compgen -W "create ls inspect rm prune $(kapsel "${root[@]}" volume ls -q 2>/dev/null)" -- "$cur")) ;;
        network) COMPREPLY=($(compgen -W "create ls inspect rm connect disconnect prune $(kapsel "${root[@]}" network ls -q 2>/dev/null)" -- "$cur")) ;;
        system) COMPREPLY=($(compgen -W "check" -- "$cur")) ;;
        vm)
                local sub=${words[2]}
                [ "${words[1]}" = --root ] && sub=${words[4]}
                if [ "$prev" = vm ]; then
                        COMPREPLY=($(compgen -W "run create start stop kill pause resume ls inspect console logs rm snapshot restore clone migrate receive" -- "$cur"))
                        return
                fi
                case $prev in
                --kernel|--initrd|--disk) COMPREPLY=($(compgen -f -- "$cur")); return ;;
                --net|--network) COMPREPLY=($(compgen -W "bridge none $(kapsel "${root[@]}" network ls -q 2>/dev/null)" -- "$cur")); return ;;
                --cpus|--memory|-m|--cmdline|--name|-t|-s) return ;;
                esac
                case $sub in
                run|create) COMPREPLY=($(compgen -W "--kernel --initrd --cmdline --cpus --memory --disk --net --name --boot-timeout --boot-ready -d --help" -- "$cur")) ;;
                ls) COMPREPLY=($(compgen -W "-a -q --no-trunc --format --help" -- "$cur")) ;;
                *) COMPREPLY=($(compgen -W "$(kapsel "${root[@]}" ps -a --kind vm --format '{{.Names}}' 2>/dev/null)" -- "$cur")) ;;
                esac ;;
        run|create|pull|push|rmi|tag|history|save)
                if [ "$prev" = --isolation ]; then COMPREPLY=($(compgen -W "container vm" -- "$cur")); return; fi
                COMPREPLY=($(compgen -W "$(kapsel "${root[@]}" images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null)" -- "$cur")) ;;
        *)
                COMPREPLY=($(compgen -W "$(kapsel "${root[@]}" ps -a --format '{{.Names}}' 2>/dev/null)" -- "$cur")) ;;
        esac
}
complete -F _kapsel kapsel
