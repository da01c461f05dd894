package loadtest

import (
	"os"
	"time"
)

// CPUPerRequest is the CPU time (user + system) each process of one side
// spent per request answered, warm-up included: where the plugin's cost
// lands. The stand-in's share stands for Kong's side of the PDK calls and
// of the proxying, which a real Kong spends in nginx and LuaJIT instead.
type CPUPerRequest struct {
	Gateway      time.Duration // kongsim
	PluginServer time.Duration // ai-proxy-hf (0 on the plain side)
	Upstream     time.Duration // hfsim
	Client       time.Duration // this driver
}

// Servers is the CPU of the processes a deployment runs (gateway, plugin
// server, upstream), the client left out.
func (c CPUPerRequest) Servers() time.Duration { return c.Gateway + c.PluginServer + c.Upstream }

// cpuMeter reads the CPU times of one side's processes; a pid of 0 is a
// process that side does not have.
type cpuMeter struct{ gateway, plugin, upstream, client int }

func (m cpuMeter) read() CPUPerRequest {
	read := func(pid int) time.Duration {
		if pid == 0 {
			return 0
		}
		d, err := ReadCPU(pid)
		if err != nil {
			return 0
		}
		return d
	}
	return CPUPerRequest{Gateway: read(m.gateway), PluginServer: read(m.plugin), Upstream: read(m.upstream), Client: read(m.client)}
}

// cpuMeters are the meters of the plain and the plugin side.
func (r *Rig) cpuMeters() (plain, plugin cpuMeter, err error) {
	pluginPID, err := r.Plugin.PluginPID()
	if err != nil {
		return plain, plugin, err
	}
	hf, self := r.hf.cmd.Process.Pid, os.Getpid()
	plugin = cpuMeter{gateway: r.Plugin.PID(), plugin: pluginPID, upstream: hf, client: self}
	if r.Plain != nil {
		plain = cpuMeter{gateway: r.Plain.PID(), upstream: hf, client: self}
	}
	return plain, plugin, nil
}

// cpuTally adds up the CPU one side used over its rounds and the requests
// it answered.
type cpuTally struct {
	used     CPUPerRequest
	requests int
}

// measure runs one round, which returns how many requests it sent, and
// adds the CPU the side's processes used meanwhile (the sides take turns,
// so hfsim's and this process's CPU in a round is that side's).
func (t *cpuTally) measure(m cpuMeter, round func() int) {
	before := m.read()
	n := round()
	after := m.read()
	t.used.Gateway += after.Gateway - before.Gateway
	t.used.PluginServer += after.PluginServer - before.PluginServer
	t.used.Upstream += after.Upstream - before.Upstream
	t.used.Client += after.Client - before.Client
	t.requests += n
}

func (t *cpuTally) perRequest() CPUPerRequest {
	if t.requests == 0 {
		return CPUPerRequest{}
	}
	n := time.Duration(t.requests)
	return CPUPerRequest{Gateway: t.used.Gateway / n, PluginServer: t.used.PluginServer / n, Upstream: t.used.Upstream / n, Client: t.used.Client / n}
}
