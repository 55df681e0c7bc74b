#!/usr/bin/env python3
"""Which pseudo-variables Kamailio has and siprd does not.

The PV names come from the export tables of the installed Kamailio modules
siprd also has (`siprd --modules`), read from the ELF files (pyelftools).
Each name is tried as `$name`, `$name(a)` and `$name(1)` inside an xlog
format: first `siprd -c`, then, for what siprd refuses, a real Kamailio
start-up (`kamailio -c` does not run the fix-ups that parse xlog formats).
Prints the forms Kamailio accepts and siprd refuses.

    pip install pyelftools
    python3 tests/kamailio-diff/pv_sweep.py [path/to/siprd]
"""
import os
import struct
import subprocess
import sys
import tempfile

from elftools.elf.elffile import ELFFile
from elftools.elf.relocation import RelocationSection

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIPRD = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'target/debug/siprd')
MPATH = '/usr/lib/x86_64-linux-gnu/kamailio/modules/'
# modules a module needs loaded before it, and what its config must hold
DEPS = {'tmx': ['tm'], 'async': ['tm'], 'xhttp': ['sl']}
EXTRA = {
    'htable': 'modparam("htable","htable","t=>size=4")\n',
    'evrexec': 'modparam("evrexec","exec","name=evrexec:x")\nevent_route[evrexec:x] { return; }\n',
    'nosip': 'event_route[nosip:msg] { return; }\n',
    'xhttp': 'event_route[xhttp:request] { return; }\n',
}
PV_EXPORT_SIZE = 72  # sizeof(pv_export_t) on x86_64


def pv_names(module):
    """The names in a module's `exports.pv_exports` table."""
    path = MPATH + module + '.so'
    if not os.path.exists(path):
        return []
    with open(path, 'rb') as f:
        elf = ELFFile(f)
        relocs = {}
        for sec in elf.iter_sections():
            if isinstance(sec, RelocationSection):
                for r in sec.iter_relocations():
                    if r['r_info_type'] == 8:  # R_X86_64_RELATIVE
                        relocs[r['r_offset']] = r['r_addend']

        def read(addr, n):
            for seg in elf.iter_segments():
                start = seg['p_vaddr']
                if seg['p_type'] == 'PT_LOAD' and start <= addr < start + seg['p_filesz']:
                    f.seek(seg['p_offset'] + addr - start)
                    return f.read(n)
            return b''

        def cstr(addr):
            out = b''
            while b'\0' not in out:
                chunk = read(addr + len(out), 64)
                if not chunk:
                    break
                out += chunk
            return out.split(b'\0')[0].decode(errors='replace')

        exports = [s for s in elf.get_section_by_name('.dynsym').iter_symbols()
                   if s.name == 'exports']
        if not exports:
            return []
        table = relocs.get(exports[0]['st_value'] + 40)  # exports.pv_exports
        names, entry = [], table
        while isinstance(entry, int) and isinstance(relocs.get(entry), int):
            names.append(cstr(relocs[entry]))
            entry += PV_EXPORT_SIZE
        return names


def config(module, form):
    mods = ['pv', 'xlog'] + DEPS.get(module, []) + ([module] if module != 'pv' else [])
    head = 'listen=udp:127.0.0.1:5999\nmpath="%s"\n' % MPATH
    head += ''.join('loadmodule "%s.so"\n' % m for m in dict.fromkeys(mods))
    return head + EXTRA.get(module, '') + 'request_route {\n  xlog("L_INFO", "%s\\n");\n}\n' % form


def siprd_accepts(cfg_path):
    return subprocess.run([SIPRD, '-c', '-f', cfg_path], capture_output=True).returncode == 0


def kamailio_accepts(cfg_path):
    """Kamailio starts (fix-ups passed) and keeps running: accepted."""
    p = subprocess.Popen(['kamailio', '-f', cfg_path, '-E', '-D', '-w', '/tmp'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        p.wait(timeout=1.2)
        return False
    except subprocess.TimeoutExpired:
        p.terminate()
        p.wait()
        return True


def main():
    modules = subprocess.run([SIPRD, '--modules'], capture_output=True, text=True).stdout.split()
    missing = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, 'pv.cfg')
        for module in modules:
            for name in pv_names(module):
                for form in ('$%s' % name, '$%s(a)' % name, '$%s(1)' % name):
                    with open(path, 'w') as f:
                        f.write(config(module, form))
                    if not siprd_accepts(path) and kamailio_accepts(path):
                        missing.append((module, form))
    for module, form in missing:
        print(module, form)
    print('%d forms Kamailio accepts and siprd refuses' % len(missing), file=sys.stderr)


if __name__ == '__main__':
    main()
