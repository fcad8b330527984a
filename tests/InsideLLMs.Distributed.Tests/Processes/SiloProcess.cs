using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace InsideLLMs.Distributed.Tests.Processes;

/// <summary>
/// The built silo as its own OS process (<c>dotnet InsideLLMs.Distributed.Silo.dll --instance N</c>), configured by
/// environment variables, its console captured to a log file for failure messages. <see cref="Kill"/> is SIGKILL:
/// nothing in the silo gets to say goodbye, as when a machine dies.
/// </summary>
public sealed class SiloProcess : IAsyncDisposable
{
    // SiloSettings' ports for --instance N (the silo project is not referenced by this assembly).
    private const int FirstSiloPort = 11111;
    private const int FirstGatewayPort = 30000;
    private const int FirstWebPort = 5080;

    private readonly Process _process;
    private readonly StreamWriter _log;
    private readonly Lock _logLock = new();

    private SiloProcess(int instance, Process process, string logPath, StreamWriter log)
    {
        Instance = instance;
        _process = process;
        LogPath = logPath;
        _log = log;
    }

    public int Instance { get; }

    public int SiloPort => FirstSiloPort + Instance;

    public int GatewayPort => FirstGatewayPort + Instance;

    public Uri WebAddress => new($"http://127.0.0.1:{FirstWebPort + Instance}/");

    public string LogPath { get; }

    public int ProcessId => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>The silo, gateway and web ports <c>--instance N</c> listens on.</summary>
    public static int[] PortsOf(int instance) => [FirstSiloPort + instance, FirstGatewayPort + instance, FirstWebPort + instance];

    /// <summary>
    /// Starts instance <paramref name="instance"/> with <paramref name="configuration"/> (keys as in appsettings,
    /// e.g. <c>Silo:Clustering</c>) and waits until its <c>/health</c> answers.
    /// </summary>
    public static Task<SiloProcess> StartAsync(
        string siloAssembly, int instance, IReadOnlyDictionary<string, string> configuration, string logDirectory, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return StartAsync(siloAssembly, instance, ["--instance", instance.ToString(CultureInfo.InvariantCulture)], configuration, logDirectory, timeout);
    }

    /// <summary>
    /// Starts a silo on instance <paramref name="instance"/>'s ports that is its own primary: a one-silo cluster with
    /// localhost clustering. (<c>--instance N</c> alone would wait for a primary at the first silo port, 11111.)
    /// </summary>
    public static Task<SiloProcess> StartStandaloneAsync(
        string siloAssembly, int instance, IReadOnlyDictionary<string, string> configuration, string logDirectory, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var ports = new Dictionary<string, string>(configuration)
        {
            ["Silo:SiloPort"] = (FirstSiloPort + instance).ToString(CultureInfo.InvariantCulture),
            ["Silo:GatewayPort"] = (FirstGatewayPort + instance).ToString(CultureInfo.InvariantCulture),
            ["Silo:PrimaryPort"] = (FirstSiloPort + instance).ToString(CultureInfo.InvariantCulture),
            ["Urls"] = string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{FirstWebPort + instance}"),
        };
        return StartAsync(siloAssembly, instance, [], ports, logDirectory, timeout);
    }

    private static async Task<SiloProcess> StartAsync(
        string siloAssembly, int instance, string[] arguments, IReadOnlyDictionary<string, string> configuration, string logDirectory, TimeSpan timeout)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(siloAssembly)!, // the content root: appsettings.json is there
        };
        start.ArgumentList.Add(siloAssembly);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        foreach (var (key, value) in configuration)
        {
            start.Environment[key.Replace(":", "__", StringComparison.Ordinal)] = value;
        }

        Directory.CreateDirectory(logDirectory);
        var logPath = Path.Combine(logDirectory, $"silo-{instance}.log");
        var log = new StreamWriter(logPath, append: false, Encoding.UTF8) { AutoFlush = true };
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        var silo = new SiloProcess(instance, process, logPath, log);
        process.OutputDataReceived += (_, e) => silo.Write(e.Data);
        process.ErrorDataReceived += (_, e) => silo.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await silo.WaitHealthyAsync(timeout);
        }
        catch
        {
            await silo.DisposeAsync();
            throw;
        }

        return silo;
    }

    /// <summary>SIGKILL of the process (and anything it started), then waits until the kernel has reaped it.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    /// <summary>SIGTERM, as Kubernetes sends when it scales in: the silo shuts down by itself; waits until it has exited.</summary>
    /// <returns>How long the silo took to exit.</returns>
    public async Task<TimeSpan> TerminateAsync(TimeSpan timeout)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        using (var signal = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("kill", ["-TERM", ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)]))!)
        {
            await signal.WaitForExitAsync();
        }

        await _process.WaitForExitAsync().WaitAsync(timeout);
        return started.Elapsed;
    }

    /// <summary>The last <paramref name="lines"/> lines of the silo's console, for failure messages.</summary>
    public string Tail(int lines = 60)
    {
        lock (_logLock)
        {
            _log.Flush();
        }

        using var reader = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var text = new StreamReader(reader).ReadToEnd().Split('\n');
        return $"--- silo {Instance} ({LogPath}), last {lines} lines ---\n" + string.Join('\n', text.TakeLast(lines));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        await _process.WaitForExitAsync();
        _process.Dispose();
        lock (_logLock)
        {
            _log.Dispose();
        }
    }

    private void Write(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_logLock)
        {
            try
            {
                _log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
                // the last lines of a killed process may arrive after disposal
            }
        }
    }

    private async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { BaseAddress = WebAddress, Timeout = TimeSpan.FromSeconds(2) };
        var waited = Stopwatch.StartNew();
        while (true)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Silo {Instance} exited with code {_process.ExitCode} before it was healthy.\n{Tail()}");
            }

            try
            {
                using var response = await http.GetAsync(new Uri("health", UriKind.Relative));
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // starting slowly
            }

            if (waited.Elapsed > timeout)
            {
                throw new TimeoutException($"Silo {Instance} did not answer {WebAddress}health within {timeout.TotalSeconds:F0} s.\n{Tail()}");
            }

            await Task.Delay(100);
        }
    }
}
