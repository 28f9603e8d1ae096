//go:build !race

package exsimtest_test

const raceEnabled = false
