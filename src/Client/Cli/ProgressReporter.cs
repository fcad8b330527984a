using System.Globalization;
using Spectre.Console;

namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>
/// Shows a long job's progress in the form that suits where the output goes: a live Spectre progress bar in a
/// terminal; one plain line every <c>plainInterval</c> when stdout is redirected (logs, CI); with --json the same
/// plain lines on stderr, since stdout carries only the JSON document.
/// </summary>
/// <example>
/// <code>
/// var job = new ProgressJob("train", totalSteps, Unit: "step", RateUnit: "tok");
/// var result = await new ProgressReporter(context).RunAsync(job, async (progress, ct) =>
/// {
///     for (var step = 1; step &lt;= totalSteps; step++)
///     {
///         var loss = await trainer.StepAsync(ct);
///         progress.Report(new ProgressSnapshot(step, step * tokensPerStep, $"loss {loss:F3}"));
///     }
///     return summary;
/// }, cancellationToken);
/// </code>
/// </example>
internal sealed class ProgressReporter
{
    private static readonly TimeSpan DefaultPlainInterval = TimeSpan.FromSeconds(5);

    private readonly CliContext _context;
    private readonly TimeProvider _time;
    private readonly TimeSpan _plainInterval;

    public ProgressReporter(CliContext context, TimeProvider? time = null, TimeSpan? plainInterval = null)
    {
        ArgumentNullException.ThrowIfNull(context);
        _context = context;
        _time = time ?? TimeProvider.System;
        _plainInterval = plainInterval ?? DefaultPlainInterval;
    }

    /// <summary>Runs <paramref name="work"/>, showing each <see cref="ProgressSnapshot"/> it reports.</summary>
    /// <remarks><see cref="IProgress{T}.Report"/> is synchronous and thread-safe: call it from the job's own loop.</remarks>
    public async Task<T> RunAsync<T>(
        ProgressJob job,
        Func<IProgress<ProgressSnapshot>, CancellationToken, Task<T>> work,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(work);
        if (_context.IsTerminal)
        {
            return await _context.Console.Progress()
                .AutoClear(false)
                .Columns(
                    new TaskDescriptionColumn { Alignment = Justify.Left },
                    new ProgressBarColumn(),
                    new PercentageColumn(),
                    new RemainingTimeColumn(),
                    new SpinnerColumn())
                .StartAsync(async progressContext =>
                {
                    var task = progressContext.AddTask(Markup.Escape(job.Title), maxValue: Math.Max(1, job.Total));
                    var live = new LiveProgress(job, task, _time);
                    var result = await work(live, cancellationToken);
                    task.StopTask();
                    return result;
                });
        }

        var plain = new PlainProgress(job, _context.Json ? _context.Error : _context.Output, _time, _plainInterval);
        var outcome = await work(plain, cancellationToken);
        plain.Complete();
        return outcome;
    }

    /// <summary>"train · step 120/5,000 (2%) · loss 3.214 · 12,345 tok/s", the part both modes share.</summary>
    /// <param name="withPercent">Off for the live bar, whose percentage column already shows it.</param>
    private static string Describe(ProgressJob job, ProgressSnapshot snapshot, TimeSpan elapsed, bool withPercent)
    {
        var count = string.Create(CultureInfo.InvariantCulture, $"{job.Unit} {snapshot.Completed:N0}/{job.Total:N0}");
        var parts = new List<string>
        {
            job.Title,
            withPercent ? string.Create(CultureInfo.InvariantCulture, $"{count} ({Percent(job, snapshot):F0}%)") : count,
        };
        if (!string.IsNullOrEmpty(snapshot.Detail))
        {
            parts.Add(snapshot.Detail);
        }

        if (job.RateUnit is not null && elapsed > TimeSpan.Zero)
        {
            parts.Add(string.Create(CultureInfo.InvariantCulture, $"{snapshot.Processed / elapsed.TotalSeconds:N0} {job.RateUnit}/s"));
        }

        return string.Join(" · ", parts);
    }

    private static double Percent(ProgressJob job, ProgressSnapshot snapshot) =>
        job.Total <= 0 ? 100 : 100.0 * Math.Clamp(snapshot.Completed, 0, job.Total) / job.Total;

    /// <summary>"1:02:03" or "2:03": short enough for a status line, unambiguous for hours-long runs.</summary>
    internal static string FormatDuration(TimeSpan duration) => duration.TotalHours >= 1
        ? string.Create(CultureInfo.InvariantCulture, $"{(int)duration.TotalHours}:{duration.Minutes:D2}:{duration.Seconds:D2}")
        : string.Create(CultureInfo.InvariantCulture, $"{duration.Minutes}:{duration.Seconds:D2}");

    private sealed class LiveProgress(ProgressJob job, ProgressTask task, TimeProvider time) : IProgress<ProgressSnapshot>
    {
        private readonly long _started = time.GetTimestamp();

        public void Report(ProgressSnapshot value)
        {
            // ProgressTask locks internally; the bar, percentage and ETA columns are Spectre's own.
            task.Value = value.Completed;
            var eta = value.Eta is { } known ? $" · ETA {FormatDuration(known)}" : "";
            task.Description = Markup.Escape(Describe(job, value, time.GetElapsedTime(_started), withPercent: false) + eta);
        }
    }

    private sealed class PlainProgress(ProgressJob job, TextWriter writer, TimeProvider time, TimeSpan interval)
        : IProgress<ProgressSnapshot>
    {
        private readonly Lock _lock = new();
        private readonly long _started = time.GetTimestamp();
        private TimeSpan? _lastLine;
        private ProgressSnapshot? _last;

        public void Report(ProgressSnapshot value)
        {
            ArgumentNullException.ThrowIfNull(value);
            lock (_lock)
            {
                _last = value;
                var elapsed = time.GetElapsedTime(_started);
                if (_lastLine is { } last && elapsed - last < interval)
                {
                    return;
                }

                _lastLine = elapsed;
                var eta = value.Eta is { } known
                    ? $" · ETA {FormatDuration(known)}"
                    : value.Completed > 0 && value.Completed < job.Total
                        ? $" · ETA {FormatDuration(elapsed * ((double)(job.Total - value.Completed) / value.Completed))}"
                        : "";
                writer.WriteLine($"[{FormatDuration(elapsed)}] {Describe(job, value, elapsed, withPercent: true)}{eta}");
                writer.Flush();
            }
        }

        /// <summary>The closing line, always written, so a log shows where the job ended and how long it took.</summary>
        public void Complete()
        {
            lock (_lock)
            {
                var elapsed = time.GetElapsedTime(_started);
                var final = _last ?? new ProgressSnapshot(0);
                writer.WriteLine($"[{FormatDuration(elapsed)}] {Describe(job, final, elapsed, withPercent: true)} · done in {FormatDuration(elapsed)}");
                writer.Flush();
            }
        }
    }
}
