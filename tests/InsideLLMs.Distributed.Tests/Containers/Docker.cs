using System.Diagnostics;
using System.Text;

namespace InsideLLMs.Distributed.Tests.Containers;

/// <summary>The <c>docker</c> command line: a call, its exit code and output; a failure names the command and what it printed.</summary>
public static class Docker
{
    public sealed record Result(int ExitCode, string Output, string Error);

    /// <summary>Runs <c>docker</c> with <paramref name="arguments"/>; throws unless it exits 0.</summary>
    public static async Task<string> RunAsync(TimeSpan timeout, params string[] arguments)
    {
        var result = await TryAsync(timeout, arguments);
        return result.ExitCode == 0
            ? result.Output.Trim()
            : throw new InvalidOperationException($"docker {string.Join(' ', arguments)} exited {result.ExitCode}:\n{result.Error}{result.Output}");
    }

    public static Task<string> RunAsync(params string[] arguments) => RunAsync(TimeSpan.FromMinutes(2), arguments);

    public static Task<Result> TryAsync(TimeSpan timeout, params string[] arguments) => ProcessAsync("docker", arguments, timeout, environment: null);

    /// <summary>Runs any program (a build script), its output kept; throws on timeout.</summary>
    public static async Task<Result> ProcessAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var output = new StringBuilder();
        var error = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) { lock (output) { output.AppendLine(e.Data); } } };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) { lock (error) { error.AppendLine(e.Data); } } };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', start.ArgumentList)} did not finish in {timeout.TotalSeconds:F0} s:\n{error}{output}");
        }

        process.WaitForExit(); // the output events have all been raised
        lock (output)
        {
            lock (error)
            {
                return new Result(process.ExitCode, output.ToString(), error.ToString());
            }
        }
    }
}
