using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// A private RabbitMQ broker (Debian's <c>rabbitmq-server</c>) on free loopback ports, with its own node name and
/// state folders, for the tests that claim durability over the bus. Missing rabbitmq-server fails the test with a
/// message (<c>test.sh</c> installs it); it never skips.
/// </summary>
public sealed class RabbitMqServerFixture : IAsyncLifetime
{
    private const string Executable = "/usr/lib/rabbitmq/bin/rabbitmq-server";
    private readonly StringBuilder _output = new();
    private Process? _process;
    private string? _directory;

    public int Port { get; private set; }

    public async Task InitializeAsync()
    {
        if (!File.Exists(Executable))
        {
            throw new InvalidOperationException(
                "rabbitmq-server is not installed: the tests of rankings over the bus need it (Debian: apt-get install rabbitmq-server; test.sh installs it).");
        }

        _directory = Directory.CreateTempSubdirectory("insidellms-rabbitmq-").FullName;
        Port = LocalPorts.Free();
        var distribution = LocalPorts.Free();
        var start = new ProcessStartInfo(Executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory,
        };
        var node = $"insidellms{Port}@localhost";
        foreach (var (key, value) in new Dictionary<string, string>
        {
            ["HOME"] = _directory, // the Erlang cookie goes here
            ["RABBITMQ_NODENAME"] = node,
            ["RABBITMQ_NODE_IP_ADDRESS"] = "127.0.0.1",
            ["RABBITMQ_NODE_PORT"] = Port.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_DIST_PORT"] = distribution.ToString(CultureInfo.InvariantCulture),
            ["RABBITMQ_MNESIA_BASE"] = Path.Combine(_directory, "mnesia"),
            ["RABBITMQ_LOG_BASE"] = Path.Combine(_directory, "log"),
            ["RABBITMQ_PID_FILE"] = Path.Combine(_directory, "rabbitmq.pid"),
            ["RABBITMQ_ENABLED_PLUGINS_FILE"] = Path.Combine(_directory, "enabled_plugins"),
            ["RABBITMQ_CONFIG_FILE"] = Path.Combine(_directory, "rabbitmq"),
        })
        {
            start.Environment[key] = value;
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {Executable}.");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (!await AcceptsAsync())
        {
            if (_process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new InvalidOperationException($"rabbitmq-server on port {Port} did not listen (exited: {_process.HasExited}). Its output:\n{Output()}");
            }

            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        if (_process is { } process)
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
            process.Dispose();
        }

        if (_directory is not null)
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    public string Output()
    {
        lock (_output)
        {
            return _output.ToString();
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private async Task<bool> AcceptsAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
