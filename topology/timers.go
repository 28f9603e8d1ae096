package topology

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Timer profiles: lab timers run in seconds so a blocked hop shows Retry at
// once; exchange timers are Exchange's own defaults (EXCHANGE.md section 5).
const (
	ProfileLab      = "lab"
	ProfileExchange = "exchange"
)

// Timers are the queue, protocol and EdgeSync timers. Every field is
// optional and overrides the profile's value. Durations are written as
// seconds (30) or Go durations ("30s", "5m", "2h"); "d" is accepted for days.
type Timers struct {
	Profile string `yaml:"profile,omitempty" json:"profile"`

	TransientFailureRetryCount             *int      `yaml:"transient_failure_retry_count,omitempty" json:"transient_failure_retry_count,omitempty"`
	TransientFailureRetryInterval          *Duration `yaml:"transient_failure_retry_interval,omitempty" json:"transient_failure_retry_interval,omitempty"`
	OutboundConnectionFailureRetryInterval *Duration `yaml:"outbound_connection_failure_retry_interval,omitempty" json:"outbound_connection_failure_retry_interval,omitempty"`
	MessageRetryInterval                   *Duration `yaml:"message_retry_interval,omitempty" json:"message_retry_interval,omitempty"`
	DelayNotificationTimeout               *Duration `yaml:"delay_notification_timeout,omitempty" json:"delay_notification_timeout,omitempty"`
	MessageExpirationTimeout               *Duration `yaml:"message_expiration_timeout,omitempty" json:"message_expiration_timeout,omitempty"`
	TarpitInterval                         *Duration `yaml:"tarpit_interval,omitempty" json:"tarpit_interval,omitempty"`
	EdgeSyncConfigurationInterval          *Duration `yaml:"edgesync_configuration_interval,omitempty" json:"edgesync_configuration_interval,omitempty"`
	EdgeSyncRecipientInterval              *Duration `yaml:"edgesync_recipient_interval,omitempty" json:"edgesync_recipient_interval,omitempty"`
}

// TimerValues are resolved timers for one server.
type TimerValues struct {
	TransientFailureRetryCount             int
	TransientFailureRetryInterval          time.Duration
	OutboundConnectionFailureRetryInterval time.Duration
	MessageRetryInterval                   time.Duration
	DelayNotificationTimeout               time.Duration
	MessageExpirationTimeout               time.Duration
	TarpitInterval                         time.Duration
	EdgeSyncConfigurationInterval          time.Duration
	EdgeSyncRecipientInterval              time.Duration
}

// For resolves the timers of a server of the given role. Exchange's Edge
// retries less eagerly than a Mailbox server (10 and 30 minutes).
func (t Timers) For(role Role) TimerValues {
	var v TimerValues
	if t.Profile == ProfileExchange {
		v = TimerValues{
			TransientFailureRetryCount:             6,
			TransientFailureRetryInterval:          5 * time.Minute,
			OutboundConnectionFailureRetryInterval: 10 * time.Minute,
			MessageRetryInterval:                   15 * time.Minute,
			DelayNotificationTimeout:               4 * time.Hour,
			MessageExpirationTimeout:               48 * time.Hour,
			TarpitInterval:                         5 * time.Second,
			EdgeSyncConfigurationInterval:          3 * time.Minute,
			EdgeSyncRecipientInterval:              5 * time.Minute,
		}
		if role == RoleEdge {
			v.TransientFailureRetryInterval = 10 * time.Minute
			v.OutboundConnectionFailureRetryInterval = 30 * time.Minute
		}
	} else {
		v = TimerValues{
			TransientFailureRetryCount:             6,
			TransientFailureRetryInterval:          time.Second,
			OutboundConnectionFailureRetryInterval: 5 * time.Second,
			MessageRetryInterval:                   5 * time.Second,
			DelayNotificationTimeout:               2 * time.Minute,
			MessageExpirationTimeout:               10 * time.Minute,
			TarpitInterval:                         0,
			EdgeSyncConfigurationInterval:          5 * time.Second,
			EdgeSyncRecipientInterval:              5 * time.Second,
		}
	}
	if t.TransientFailureRetryCount != nil {
		v.TransientFailureRetryCount = *t.TransientFailureRetryCount
	}
	set := func(dst *time.Duration, d *Duration) {
		if d != nil {
			*dst = time.Duration(*d)
		}
	}
	set(&v.TransientFailureRetryInterval, t.TransientFailureRetryInterval)
	set(&v.OutboundConnectionFailureRetryInterval, t.OutboundConnectionFailureRetryInterval)
	set(&v.MessageRetryInterval, t.MessageRetryInterval)
	set(&v.DelayNotificationTimeout, t.DelayNotificationTimeout)
	set(&v.MessageExpirationTimeout, t.MessageExpirationTimeout)
	set(&v.TarpitInterval, t.TarpitInterval)
	set(&v.EdgeSyncConfigurationInterval, t.EdgeSyncConfigurationInterval)
	set(&v.EdgeSyncRecipientInterval, t.EdgeSyncRecipientInterval)
	return v
}

// Duration is a time.Duration written in YAML as seconds or a duration string.
type Duration time.Duration

// UnmarshalYAML accepts 30, "30s", "5m", "1h30m" and "2d".
func (d *Duration) UnmarshalYAML(b []byte) error {
	v, err := ParseDuration(strings.Trim(strings.TrimSpace(string(b)), `"'`))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a Go duration string.
func (d Duration) MarshalYAML() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// MarshalJSON writes the duration as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// ParseDuration parses a plain number of seconds or a Go duration, with "d"
// for days. Negative durations are refused.
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, fmt.Errorf("empty duration; write seconds (30) or a duration (\"30s\", \"5m\")")
	}
	var v time.Duration
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		v = time.Duration(n * float64(time.Second))
	} else if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration; write seconds (30) or a duration (\"30s\", \"5m\", \"2d\")", s)
		}
		v = time.Duration(n * 24 * float64(time.Hour))
	} else {
		v, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration; write seconds (30) or a duration (\"30s\", \"5m\", \"2d\")", s)
		}
	}
	if v < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return v, nil
}
