//go:build !unix

package router

import "errors"

func mkfifo(string) error { return errors.ErrUnsupported }
