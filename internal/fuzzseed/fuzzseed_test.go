package fuzzseed

import "testing"

func TestEncode(t *testing.T) {
	b, err := Encode([]byte("a\x00\"b\r\n"), "é", true, 7, uint8(10))
	if err != nil {
		t.Fatal(err)
	}
	want := "go test fuzz v1\n[]byte(\"a\\x00\\\"b\\r\\n\")\nstring(\"é\")\nbool(true)\nint(7)\nbyte(10)\n"
	if string(b) != want {
		t.Errorf("Encode = %q, want %q", b, want)
	}
	if _, err := Encode(3.5); err == nil {
		t.Error("Encode(float64) did not fail")
	}
}
