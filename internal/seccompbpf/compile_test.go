package seccompbpf

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The compiled program is run, in x/net/bpf's interpreter, on system calls
// of every architecture the profile names (every number in the tables,
// plus unknown ones), with arguments at and around every value the
// profile compares; each answer must be what a direct reading of the
// profile says.

func dockerProfile(t *testing.T, caps []string, archs []specs.Arch) *specs.LinuxSeccomp {
	t.Helper()
	spec := &specs.Spec{Process: &specs.Process{Capabilities: &specs.LinuxCapabilities{Bounding: caps}}}
	p, err := seccomp.GetDefaultProfile(spec)
	if err != nil {
		t.Fatal(err)
	}
	if archs != nil {
		p.Architectures = archs
	}
	return p
}

var dockerCaps = []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}

var allCaps = append([]string{"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_MODULE", "CAP_SYS_PTRACE", "CAP_SYS_RAWIO", "CAP_SYS_TIME", "CAP_SYS_NICE", "CAP_SYS_PACCT", "CAP_SYS_TTY_CONFIG", "CAP_SYSLOG", "CAP_BPF", "CAP_PERFMON", "CAP_DAC_READ_SEARCH", "CAP_SYS_RESOURCE", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_LEASE", "CAP_IPC_LOCK", "CAP_NET_ADMIN", "CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_LINUX_IMMUTABLE", "CAP_NET_BROADCAST", "CAP_IPC_OWNER", "CAP_CHECKPOINT_RESTORE"}, dockerCaps...)

func uintp(v uint) *uint { return &v }

// synthetic uses every operator, 64-bit values, OR-ed rules, an
// unconditional rule beside conditional ones, per-rule errno values and
// the other actions.
func synthetic(archs ...specs.Arch) *specs.LinuxSeccomp {
	return syntheticWith(1<<32|7, 1<<40, archs...)
}

// syntheticWith is synthetic with big as its large value and bit in its
// mask; 32-bit architectures need both within 32 bits.
func syntheticWith(big, bit uint64, archs ...specs.Arch) *specs.LinuxSeccomp {
	return &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: uintp(uint(unix.ENOSYS)),
		Architectures:   archs,
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read", "write", "no_such_call"}, Action: specs.ActAllow},
			{Names: []string{"openat"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 2, Value: big, Op: specs.OpEqualTo}}},
			{Names: []string{"openat"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 5, Op: specs.OpLessThan}, {Index: 1, Value: big, Op: specs.OpGreaterEqual}}},
			{Names: []string{"close"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: big, Op: specs.OpEqualTo}}},
			{Names: []string{"close"}, Action: specs.ActAllow},
			{Names: []string{"lseek"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 1, Value: big, Op: specs.OpNotEqual}, {Index: 2, Value: 3, Op: specs.OpLessEqual}}},
			{Names: []string{"mmap"}, Action: specs.ActErrno, ErrnoRet: uintp(22), Args: []specs.LinuxSeccompArg{{Index: 3, Value: big, Op: specs.OpGreaterThan}, {Index: 5, Value: 9, Op: specs.OpLessEqual}}},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0x7e020000 | bit, ValueTwo: bit, Op: specs.OpMaskedEqual}}},
			{Names: []string{"kill"}, Action: specs.ActKillProcess},
			{Names: []string{"getpid"}, Action: specs.ActTrap},
			{Names: []string{"getppid"}, Action: specs.ActLog},
			{Names: []string{"gettid"}, Action: specs.ActKill},
			{Names: []string{"uname"}, Action: specs.ActErrno, ErrnoRet: uintp(uint(unix.ENOSYS))}, // the default: no-op
		},
	}
}

func TestCompileMatchesProfile(t *testing.T) {
	cases := map[string]*specs.LinuxSeccomp{
		"docker default, three archs":        dockerProfile(t, dockerCaps, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}),
		"docker default, no x32":             dockerProfile(t, dockerCaps, []specs.Arch{specs.ArchX86_64, specs.ArchX86}),
		"docker default, all capabilities":   dockerProfile(t, allCaps, []specs.Arch{specs.ArchX86_64, specs.ArchX86}),
		"docker default, aarch64":            dockerProfile(t, dockerCaps, []specs.Arch{specs.ArchAARCH64}),
		"synthetic x86_64 and x32":           synthetic(specs.ArchX86_64, specs.ArchX32),
		"synthetic x32 alone":                synthetic(specs.ArchX32),
		"synthetic x86 and aarch64":          syntheticWith(0x80000007, 1<<31, specs.ArchX86, specs.ArchAARCH64),
		"synthetic, host's own architecture": synthetic(),
	}
	for name, p := range cases {
		t.Run(name, func(t *testing.T) {
			prog, err := Program(p)
			if err != nil {
				t.Fatal(err)
			}
			vm, err := bpf.NewVM(prog)
			if err != nil {
				t.Fatalf("program rejected: %v", err)
			}
			if _, err := Compile(p); err != nil {
				t.Fatal(err)
			}
			infos, err := architectures(p.Architectures)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(1))
			checked := 0
			for _, audit := range []*arch.Info{arch.X86_64, arch.I386, arch.AARCH64, arch.ARM} {
				for _, nr := range numbers(audit) {
					for _, args := range argVectors(p, infos, audit, nr, rng) {
						got := run(t, vm, uint32(audit.ID), nr, args)
						want := reference(p, infos, uint32(audit.ID), nr, args)
						if got != want {
							t.Fatalf("arch %s, call %#x (%s), args %#x: filter says %#x, profile %#x", audit.Name, nr, callName(infos, uint32(audit.ID), nr), args, got, want)
						}
						checked++
					}
				}
			}
			t.Logf("%d instructions, %d calls checked", len(prog), checked)
		})
	}
}

// The default profile must be compiled, not left to the runtime.
func TestDockerProfileIsSupported(t *testing.T) {
	p := dockerProfile(t, dockerCaps, []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32})
	data, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(data)%8 != 0 || len(data)/8 > maxInstructions {
		t.Fatalf("program of %d bytes", len(data))
	}
	// The first instruction loads the architecture: BPF_LD|BPF_W|BPF_ABS, k=4.
	if op, k := binary.LittleEndian.Uint16(data), binary.LittleEndian.Uint32(data[4:]); op != 0x20 || k != offArch {
		t.Fatalf("first instruction: op %#x k %d", op, k)
	}
}

func TestUnsupported(t *testing.T) {
	base := func() *specs.LinuxSeccomp { return synthetic(specs.ArchX86_64) }
	cases := map[string]func(p *specs.LinuxSeccomp){
		"flags":            func(p *specs.LinuxSeccomp) { p.Flags = []specs.LinuxSeccompFlag{specs.LinuxSeccompFlagLog} },
		"listener":         func(p *specs.LinuxSeccomp) { p.ListenerPath = "/run/x.sock" },
		"unknown arch":     func(p *specs.LinuxSeccomp) { p.Architectures = append(p.Architectures, specs.ArchS390X) },
		"notify action":    func(p *specs.LinuxSeccomp) { p.Syscalls[0].Action = specs.ActNotify },
		"two actions":      func(p *specs.LinuxSeccomp) { p.Syscalls[8].Names = append(p.Syscalls[8].Names, "read") },
		"argument twice":   func(p *specs.LinuxSeccomp) { p.Syscalls[2].Args[1].Index = 0 },
		"64-bit on 32-bit": func(p *specs.LinuxSeccomp) { p.Architectures = []specs.Arch{specs.ArchX86} },
	}
	for name, change := range cases {
		p := base()
		change(p)
		if _, err := Compile(p); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: want ErrUnsupported, got %v", name, err)
		}
	}
	p := base()
	p.Syscalls[1].Args[0].Index = 6
	if _, err := Compile(p); err == nil || errors.Is(err, ErrUnsupported) {
		t.Errorf("argument index 6: want an error of its own, got %v", err)
	}
}

// numbers are the calls tried on an audit architecture: every number in
// its tables (x32's too on x86_64) and some no table has.
func numbers(a *arch.Info) []uint32 {
	var out []uint32
	tables := []*arch.Info{a}
	if a == arch.X86_64 {
		tables = append(tables, arch.X32)
	}
	for _, t := range tables {
		for n := range t.SyscallNumbers {
			out = append(out, uint32(n)|uint32(t.SeccompMask))
		}
		out = append(out, 1000|uint32(t.SeccompMask), 0xffff|uint32(t.SeccompMask))
	}
	return append(out, 0xffffffff)
}

// argVectors are all-zero arguments, each argument the profile compares
// for this call set at and around each value it is compared with, and a
// few random vectors. A 32-bit architecture's arguments have no high half.
func argVectors(p *specs.LinuxSeccomp, infos []*arch.Info, audit *arch.Info, nr uint32, rng *rand.Rand) [][6]uint64 {
	vecs := [][6]uint64{{}}
	name := callName(infos, uint32(audit.ID), nr)
	for _, sc := range p.Syscalls {
		named := false
		for _, n := range sc.Names {
			named = named || n == name
		}
		if !named || len(sc.Args) == 0 {
			continue
		}
		var all [6]uint64
		for _, c := range sc.Args {
			all[c.Index] = c.Value
			if c.Op == specs.OpMaskedEqual {
				all[c.Index] = c.ValueTwo
			}
			for _, v := range []uint64{c.Value, c.Value - 1, c.Value + 1, c.Value ^ 1<<32, c.Value + 1<<32, c.Value - 1<<32, c.ValueTwo, c.ValueTwo | c.Value&-c.Value, c.Value<<32 | c.Value>>32, ^uint64(0), 0} {
				var a [6]uint64
				a[c.Index] = v
				vecs = append(vecs, a)
			}
		}
		vecs = append(vecs, all)
	}
	for i := 0; i < 3; i++ {
		var a [6]uint64
		for j := range a {
			a[j] = rng.Uint64() >> (rng.Intn(4) * 16)
		}
		vecs = append(vecs, a)
	}
	if audit == arch.I386 || audit == arch.ARM {
		for i := range vecs {
			for j := range vecs[i] {
				vecs[i][j] &= 0xffffffff
			}
		}
	}
	return vecs
}

// run evaluates the program on struct seccomp_data. The interpreter loads
// words big-endian, so each word is stored big-endian at the offset where
// the kernel (little-endian) has it: the program sees the same values.
func run(t *testing.T, vm *bpf.VM, audit, nr uint32, args [6]uint64) uint32 {
	t.Helper()
	buf := make([]byte, 64)
	binary.BigEndian.PutUint32(buf[offNr:], nr)
	binary.BigEndian.PutUint32(buf[offArch:], audit)
	for i, a := range args {
		binary.BigEndian.PutUint32(buf[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(buf[offArgs+8*i+4:], uint32(a>>32))
	}
	out, err := vm.Run(buf)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(out)
}

// tableFor is the architecture whose table a call from audit numbered nr
// is looked up in, if the profile lists it.
func tableFor(infos []*arch.Info, audit, nr uint32) *arch.Info {
	for _, a := range infos {
		if uint32(a.ID) != audit {
			continue
		}
		if a.ID == arch.X86_64.ID && (nr&x32Bit != 0) != (a == arch.X32) {
			continue
		}
		return a
	}
	return nil
}

func callName(infos []*arch.Info, audit, nr uint32) string {
	a := tableFor(infos, audit, nr)
	if a == nil {
		return ""
	}
	return a.SyscallNumbers[int(nr&^uint32(a.SeccompMask))]
}

// reference reads the profile directly: the action of a rule naming the
// call whose every condition holds, else the default; a call from an
// architecture the profile does not list is killed.
func reference(p *specs.LinuxSeccomp, infos []*arch.Info, audit, nr uint32, args [6]uint64) uint32 {
	a := tableFor(infos, audit, nr)
	if a == nil {
		return unix.SECCOMP_RET_KILL_THREAD
	}
	act := func(x specs.LinuxSeccompAction, errno *uint) uint32 {
		v, err := action(x, errno)
		if err != nil {
			panic(err)
		}
		return v
	}
	for _, sc := range p.Syscalls {
		for _, name := range sc.Names {
			n, ok := a.SyscallNames[name]
			if !ok || uint32(n)|uint32(a.SeccompMask) != nr {
				continue
			}
			holds := true
			for _, c := range sc.Args {
				v, x, y := args[c.Index], c.Value, c.ValueTwo
				if is32Bit(a) {
					v, x, y = uint64(uint32(v)), uint64(uint32(x)), uint64(uint32(y))
				}
				switch c.Op {
				case specs.OpEqualTo:
					holds = holds && v == x
				case specs.OpNotEqual:
					holds = holds && v != x
				case specs.OpGreaterThan:
					holds = holds && v > x
				case specs.OpGreaterEqual:
					holds = holds && v >= x
				case specs.OpLessThan:
					holds = holds && v < x
				case specs.OpLessEqual:
					holds = holds && v <= x
				case specs.OpMaskedEqual:
					holds = holds && v&x == y
				}
			}
			if holds {
				return act(sc.Action, sc.ErrnoRet)
			}
		}
	}
	return act(p.DefaultAction, p.DefaultErrnoRet)
}
