//go:build !linux

package testservices

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
