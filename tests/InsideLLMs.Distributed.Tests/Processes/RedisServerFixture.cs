using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// A private <c>redis-server</c> on a free loopback port, without persistence, for the tests that need a real store
/// and real membership. Missing redis-server fails the test with a message (CI installs it); it never skips.
/// </summary>
public sealed class RedisServerFixture : IAsyncLifetime
{
    private static readonly string[] Candidates = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"];
    private readonly StringBuilder _output = new();
    private Process? _process;
    private string? _directory;

    public int Port { get; private set; }

    /// <summary>StackExchange.Redis configuration string of this server.</summary>
    public string ConnectionString => $"127.0.0.1:{Port}";

    public async Task InitializeAsync()
    {
        var executable = Find() ?? throw new InvalidOperationException(
            "redis-server is not installed: the real-process failover tests need it (Debian: apt-get install redis-server; .ci/run installs it).");
        _directory = Directory.CreateTempSubdirectory("insidellms-redis-").FullName;
        Port = LocalPorts.Free();
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _directory,
        };
        foreach (var argument in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _directory })
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {executable}.");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        var deadline = Stopwatch.StartNew();
        while (!await PingAsync())
        {
            if (_process.HasExited || deadline.Elapsed > TimeSpan.FromSeconds(15))
            {
                throw new InvalidOperationException($"redis-server on port {Port} did not answer PING (exited: {_process.HasExited}). Its output:\n{Output()}");
            }

            await Task.Delay(50);
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
        if (line is not null)
        {
            lock (_output)
            {
                _output.AppendLine(line);
            }
        }
    }

    private static string? Find() =>
        Candidates.FirstOrDefault(File.Exists)
        ?? (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, "redis-server")).FirstOrDefault(File.Exists);

    private async Task<bool> PingAsync()
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray());
            var buffer = new byte[16];
            var read = await stream.ReadAsync(buffer);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }
}
