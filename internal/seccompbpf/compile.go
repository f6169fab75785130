// Package seccompbpf compiles an OCI seccomp profile into the classic BPF
// program the kernel's seccomp(SECCOMP_SET_MODE_FILTER) takes.
//
// crun compiles the profile with libseccomp on every container start,
// which costs about 10 ms for Docker's default profile on two
// architectures; it also takes a program made beforehand (the annotation
// run.oci.seccomp_bpf_data), which berthd compiles once per distinct
// profile. The program is the plain form libseccomp produces by default:
// a check of the architecture, then each listed system call in turn, each
// with its argument conditions, ending in the default action.
//
// Only what can be compiled exactly as libseccomp would is compiled: a
// profile that lists a system call under two different actions, repeats
// an argument in one rule, sets filter flags or a listener, or names an
// architecture without a table here gets ErrUnsupported, and the runtime
// compiles it itself.
package seccompbpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// ErrUnsupported means the profile uses something this compiler does not
// reproduce exactly; the runtime should compile it.
var ErrUnsupported = errors.New("seccomp profile not supported by berth's compiler")

// maxInstructions is the kernel's limit on a filter's length (BPF_MAXINSNS).
const maxInstructions = 4096

// Offsets in struct seccomp_data; arguments are 64-bit, little-endian here.
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

// x32Bit marks an x32 system call number (__X32_SYSCALL_BIT); x32 shares
// x86_64's audit architecture.
const x32Bit = 0x40000000

// badArchAction is libseccomp's default for a call from an architecture the
// filter does not list.
const badArchAction = unix.SECCOMP_RET_KILL_THREAD

// archs maps the OCI names this compiler has system call tables for.
var archs = map[specs.Arch]*arch.Info{
	specs.ArchX86_64:  arch.X86_64,
	specs.ArchX86:     arch.I386,
	specs.ArchX32:     arch.X32,
	specs.ArchAARCH64: arch.AARCH64,
}

// is32Bit says which architectures pass 32-bit arguments: libseccomp
// compares only their low halves.
func is32Bit(a *arch.Info) bool { return a == arch.I386 }

// Compile returns the BPF program for p, as the bytes of a struct
// sock_filter array.
func Compile(p *specs.LinuxSeccomp) ([]byte, error) {
	prog, err := Program(p)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return nil, fmt.Errorf("assemble seccomp filter: %w", err)
	}
	out := make([]byte, 0, 8*len(raw))
	for _, r := range raw {
		out = binary.LittleEndian.AppendUint16(out, r.Op)
		out = append(out, r.Jt, r.Jf)
		out = binary.LittleEndian.AppendUint32(out, r.K)
	}
	return out, nil
}

// Program returns the filter for p as instructions.
func Program(p *specs.LinuxSeccomp) ([]bpf.Instruction, error) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		return nil, fmt.Errorf("%w: big-endian host", ErrUnsupported)
	}
	if len(p.Flags) > 0 || p.ListenerPath != "" || p.ListenerMetadata != "" {
		return nil, fmt.Errorf("%w: flags or a listener", ErrUnsupported)
	}
	def, err := action(p.DefaultAction, p.DefaultErrnoRet)
	if err != nil {
		return nil, err
	}
	infos, err := architectures(p.Architectures)
	if err != nil {
		return nil, err
	}
	// One section per audit architecture; x86_64 and x32 share one.
	var sections [][]bpf.Instruction
	var ids []uint32
	for _, a := range infos {
		if a == arch.X32 && slices.Contains(infos, arch.X86_64) {
			continue // compiled with x86_64
		}
		var sec []bpf.Instruction
		switch a {
		case arch.X86_64, arch.X32:
			sec, err = x86_64Section(p, def, slices.Contains(infos, arch.X86_64), slices.Contains(infos, arch.X32))
		default:
			sec, err = section(p, def, a)
		}
		if err != nil {
			return nil, err
		}
		sections = append(sections, sec)
		ids = append(ids, uint32(a.ID))
	}
	// The dispatch: each architecture jumps to its section.
	prog := []bpf.Instruction{bpf.LoadAbsolute{Off: offArch, Size: 4}}
	start := 1 + 2*len(sections) + 1 // where the first section begins
	for i, sec := range sections {
		prog = append(prog, bpf.JumpIf{Cond: bpf.JumpEqual, Val: ids[i], SkipFalse: 1})
		prog = append(prog, bpf.Jump{Skip: uint32(start - len(prog) - 1)})
		start += len(sec)
	}
	prog = append(prog, bpf.RetConstant{Val: badArchAction})
	for _, sec := range sections {
		prog = append(prog, sec...)
	}
	if len(prog) > maxInstructions {
		return nil, fmt.Errorf("%w: %d instructions", ErrUnsupported, len(prog))
	}
	return prog, nil
}

// architectures resolves the profile's architectures; none means the
// host's own, as libseccomp does.
func architectures(names []specs.Arch) ([]*arch.Info, error) {
	if len(names) == 0 {
		a, err := arch.GetInfo(runtime.GOARCH)
		if err != nil || !slices.Contains([]*arch.Info{arch.X86_64, arch.I386, arch.AARCH64}, a) {
			return nil, fmt.Errorf("%w: architecture %s", ErrUnsupported, runtime.GOARCH)
		}
		return []*arch.Info{a}, nil
	}
	var out []*arch.Info
	for _, n := range names {
		a, ok := archs[n]
		if !ok {
			return nil, fmt.Errorf("%w: architecture %s", ErrUnsupported, n)
		}
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// x86_64Section is the section for AUDIT_ARCH_X86_64, whose calls are
// x86_64's or, with the x32 bit set, x32's; a half not listed is a bad
// architecture.
func x86_64Section(p *specs.LinuxSeccomp, def uint32, with64, withX32 bool) ([]bpf.Instruction, error) {
	var calls64, callsX32 []bpf.Instruction
	var err error
	if with64 {
		if calls64, err = calls(p, def, arch.X86_64); err != nil {
			return nil, err
		}
	}
	if withX32 {
		if callsX32, err = calls(p, def, arch.X32); err != nil {
			return nil, err
		}
	}
	sec := []bpf.Instruction{bpf.LoadAbsolute{Off: offNr, Size: 4}}
	switch {
	case with64 && withX32:
		sec = append(sec,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
			bpf.Jump{Skip: uint32(len(calls64) + 1)})
		sec = append(sec, calls64...)
		sec = append(sec, bpf.RetConstant{Val: def})
		sec = append(sec, callsX32...)
	case with64:
		sec = append(sec,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
			bpf.RetConstant{Val: badArchAction})
		sec = append(sec, calls64...)
	default:
		sec = append(sec,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipTrue: 1},
			bpf.RetConstant{Val: badArchAction})
		sec = append(sec, callsX32...)
	}
	return append(sec, bpf.RetConstant{Val: def}), nil
}

// section is the section of an architecture with an audit value of its own.
func section(p *specs.LinuxSeccomp, def uint32, a *arch.Info) ([]bpf.Instruction, error) {
	body, err := calls(p, def, a)
	if err != nil {
		return nil, err
	}
	sec := append([]bpf.Instruction{bpf.LoadAbsolute{Off: offNr, Size: 4}}, body...)
	return append(sec, bpf.RetConstant{Val: def}), nil
}

// rule is what the profile says of one system call on one architecture.
type rule struct {
	nr            uint32
	action        uint32
	unconditional bool
	any           [][]specs.LinuxSeccompArg // OR of ANDs
}

// rules gathers the profile's rules by system call number on a. Names the
// architecture lacks are skipped, as crun does; a rule whose action is the
// default changes nothing and is dropped.
func rules(p *specs.LinuxSeccomp, def uint32, a *arch.Info) ([]*rule, error) {
	byNr := map[uint32]*rule{}
	var order []*rule
	for _, sc := range p.Syscalls {
		act, err := action(sc.Action, sc.ErrnoRet)
		if err != nil {
			return nil, err
		}
		if act == def {
			continue
		}
		if err := checkArgs(sc.Args, a); err != nil {
			return nil, err
		}
		for _, name := range sc.Names {
			n, ok := a.SyscallNames[name]
			if !ok {
				continue
			}
			nr := uint32(n) | uint32(a.SeccompMask)
			r := byNr[nr]
			if r == nil {
				r = &rule{nr: nr, action: act}
				byNr[nr] = r
				order = append(order, r)
			}
			if r.action != act {
				return nil, fmt.Errorf("%w: %s under two actions", ErrUnsupported, name)
			}
			if len(sc.Args) == 0 {
				r.unconditional = true
			} else {
				r.any = append(r.any, sc.Args)
			}
		}
	}
	slices.SortFunc(order, func(x, y *rule) int { return int(x.nr) - int(y.nr) })
	return order, nil
}

// checkArgs refuses what libseccomp treats in ways not reproduced here.
func checkArgs(args []specs.LinuxSeccompArg, a *arch.Info) error {
	seen := map[uint]bool{}
	for _, arg := range args {
		if arg.Index > 5 {
			return fmt.Errorf("seccomp: argument index %d out of range", arg.Index)
		}
		if seen[arg.Index] {
			return fmt.Errorf("%w: argument %d compared twice in one rule", ErrUnsupported, arg.Index)
		}
		seen[arg.Index] = true
		if is32Bit(a) && (arg.Value>>32 != 0 || arg.ValueTwo>>32 != 0) {
			return fmt.Errorf("%w: 64-bit value on a 32-bit architecture", ErrUnsupported)
		}
		if _, ok := condLen[arg.Op]; !ok {
			return fmt.Errorf("%w: operator %s", ErrUnsupported, arg.Op)
		}
	}
	return nil
}

// calls is the code for every rule on a: for each system call, a
// comparison of its number and then either its action or its conditions.
func calls(p *specs.LinuxSeccomp, def uint32, a *arch.Info) ([]bpf.Instruction, error) {
	rs, err := rules(p, def, a)
	if err != nil {
		return nil, err
	}
	var out []bpf.Instruction
	for _, r := range rs {
		body := []bpf.Instruction{bpf.RetConstant{Val: r.action}}
		if !r.unconditional {
			if body, err = conditional(r, def, a); err != nil {
				return nil, err
			}
		}
		if len(body) > 255 {
			return nil, fmt.Errorf("%w: conditions too long for system call %d", ErrUnsupported, r.nr)
		}
		out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: r.nr, SkipFalse: uint8(len(body))})
		out = append(out, body...)
	}
	return out, nil
}

// conditional is the code for a system call whose rules have conditions:
// each rule's conditions in turn (all must hold), its action if they do,
// the next rule if not, and the default after the last. Every path
// returns, so the argument loads do not disturb what follows.
func conditional(r *rule, def uint32, a *arch.Info) ([]bpf.Instruction, error) {
	var out []bpf.Instruction
	for _, conds := range r.any {
		n := 1 // the action
		for _, c := range conds {
			n += condLen[c.Op]
			if is32Bit(a) {
				n -= hiLen[c.Op]
			}
		}
		start := len(out)
		for _, c := range conds {
			// fail jumps past this rule's action, to the next rule.
			out = condition(out, c, is32Bit(a), func(pos int) uint8 { return uint8(start + n - pos - 1) })
		}
		out = append(out, bpf.RetConstant{Val: r.action})
		if len(out) > 255 {
			return nil, fmt.Errorf("%w: conditions too long for system call %d", ErrUnsupported, r.nr)
		}
	}
	// The number matched but no rule's conditions held: the default.
	return append(out, bpf.RetConstant{Val: def}), nil
}

// condLen is the length of a condition's code on a 64-bit architecture;
// hiLen the part of it that compares the high half.
var condLen = map[specs.LinuxSeccompOperator]int{
	specs.OpEqualTo: 4, specs.OpNotEqual: 4,
	specs.OpGreaterThan: 5, specs.OpGreaterEqual: 5,
	specs.OpLessThan: 5, specs.OpLessEqual: 5,
	specs.OpMaskedEqual: 6,
}

var hiLen = map[specs.LinuxSeccompOperator]int{
	specs.OpEqualTo: 2, specs.OpNotEqual: 2,
	specs.OpGreaterThan: 3, specs.OpGreaterEqual: 3,
	specs.OpLessThan: 3, specs.OpLessEqual: 3,
	specs.OpMaskedEqual: 3,
}

// condition appends the code of one comparison of a 64-bit argument,
// unsigned, as two 32-bit halves (only the low one on a 32-bit
// architecture). It falls through when the comparison holds and jumps by
// fail(position) when it does not.
func condition(out []bpf.Instruction, c specs.LinuxSeccompArg, only32 bool, fail func(pos int) uint8) []bpf.Instruction {
	lo := bpf.LoadAbsolute{Off: offArgs + 8*uint32(c.Index), Size: 4}
	hi := bpf.LoadAbsolute{Off: offArgs + 8*uint32(c.Index) + 4, Size: 4}
	vlo, vhi := uint32(c.Value), uint32(c.Value>>32)
	at := func() int { return len(out) } // position of the next instruction
	// pass is the jump from the instruction at pos to the end of this
	// condition's code, which is end instructions long from its start.
	var begin int
	pass := func(pos, end int) uint8 { return uint8(begin + end - pos - 1) }
	begin = at()
	switch c.Op {
	case specs.OpEqualTo:
		if !only32 {
			out = append(out, hi)
			out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: vhi, SkipFalse: fail(at())})
		}
		out = append(out, lo)
		out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: vlo, SkipFalse: fail(at())})
	case specs.OpNotEqual:
		if !only32 {
			out = append(out, hi)
			out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: vhi, SkipFalse: pass(at(), 4)})
		}
		out = append(out, lo)
		out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: vlo, SkipTrue: fail(at())})
	case specs.OpGreaterThan, specs.OpGreaterEqual, specs.OpLessThan, specs.OpLessEqual:
		// The high halves decide unless they are equal; then the low ones
		// do. a < v is !(a >= v) and a <= v is !(a > v): the "less"
		// operators test the opposite and fail when it holds.
		less := c.Op == specs.OpLessThan || c.Op == specs.OpLessEqual
		loCond := bpf.JumpGreaterThan
		if c.Op == specs.OpGreaterEqual || c.Op == specs.OpLessThan {
			loCond = bpf.JumpGreaterOrEqual
		}
		if !only32 {
			out = append(out, hi)
			if less { // high half below: holds
				out = append(out, bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: vhi, SkipFalse: pass(at(), 5)})
			} else { // high half above: holds
				out = append(out, bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: vhi, SkipTrue: pass(at(), 5)})
			}
			// Otherwise it fails unless the high halves are equal.
			out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: vhi, SkipFalse: fail(at())})
		}
		out = append(out, lo)
		if less {
			out = append(out, bpf.JumpIf{Cond: loCond, Val: vlo, SkipTrue: fail(at())})
		} else {
			out = append(out, bpf.JumpIf{Cond: loCond, Val: vlo, SkipFalse: fail(at())})
		}
	case specs.OpMaskedEqual:
		// (arg & Value) == ValueTwo
		wlo, whi := uint32(c.ValueTwo), uint32(c.ValueTwo>>32)
		if !only32 {
			out = append(out, hi, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vhi})
			out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: whi, SkipFalse: fail(at())})
		}
		out = append(out, lo, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vlo})
		out = append(out, bpf.JumpIf{Cond: bpf.JumpEqual, Val: wlo, SkipFalse: fail(at())})
	}
	return out
}

// action is the seccomp return value of an OCI action; errnoRet defaults
// to EPERM, as in crun and runc.
func action(a specs.LinuxSeccompAction, errnoRet *uint) (uint32, error) {
	ret := uint32(unix.EPERM)
	if errnoRet != nil {
		ret = uint32(*errnoRet)
	}
	switch a {
	case specs.ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case specs.ActErrno:
		return unix.SECCOMP_RET_ERRNO | ret&unix.SECCOMP_RET_DATA, nil
	case specs.ActKill, specs.ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case specs.ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case specs.ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case specs.ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case specs.ActTrace:
		return unix.SECCOMP_RET_TRACE | ret&unix.SECCOMP_RET_DATA, nil
	}
	return 0, fmt.Errorf("%w: action %s", ErrUnsupported, a)
}
