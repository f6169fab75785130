package command

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
)

// PromptForConfirmation writes message followed by " [y/N] " to out and
// reads one line from in; only "y" or "Y" confirms. A cancelled ctx or EOF
// counts as no.
func PromptForConfirmation(ctx context.Context, in io.Reader, out io.Writer, message string) (bool, error) {
	if message == "" {
		message = "Are you sure you want to proceed?"
	}
	fmt.Fprintf(out, "%s [y/N] ", message)

	answer := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(in).ReadString('\n')
		answer <- strings.TrimSpace(line)
	}()
	select {
	case <-ctx.Done():
		fmt.Fprintln(out)
		return false, ctx.Err()
	case a := <-answer:
		return a == "y" || a == "Y", nil
	}
}
