using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace InsideLLMs.Distributed.Grains.Hosting;

/// <summary>
/// What a silo admits: the memory a run may take per silo, how many runs and generation sessions may be active at
/// once, and where corpus files may come from. Read from <c>Compute:MemoryBudget</c>, <c>Training:MaxActiveRuns</c>,
/// <c>Inference:MaxSessions</c>, <c>Data:Directory</c> and <c>Data:MaxCorpusBytes</c>.
/// </summary>
public sealed class AdmissionOptions
{
    /// <summary>The default budget: half of the memory this process may use (the machine's, or its container's limit).</summary>
    public const string DefaultMemoryBudget = "50%";

    public long MemoryBudgetBytes { get; init; } = Budget(DefaultMemoryBudget);

    /// <summary>Runs starting, running or recovering at once on the cluster (2 cores train one run well, two slowly).</summary>
    public int MaxActiveRuns { get; init; } = 2;

    /// <summary>Generation sessions open at once on one version (each holds a KV cache in every stage).</summary>
    public int MaxSessions { get; init; } = 16;

    /// <summary>The only directory corpus files are read from; null: only the built-in corpora.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>The largest corpus file read (its text and tokens are held in memory on every silo that trains on it).</summary>
    public long MaxCorpusBytes { get; init; } = 256L << 20;

    /// <exception cref="ArgumentException">A setting that is not a valid value, named with what it got.</exception>
    public static AdmissionOptions From(IConfiguration? configuration)
    {
        var defaults = new AdmissionOptions();
        if (configuration is null)
        {
            return defaults;
        }

        return new AdmissionOptions
        {
            MemoryBudgetBytes = configuration["Compute:MemoryBudget"] is { Length: > 0 } budget ? Budget(budget) : defaults.MemoryBudgetBytes,
            MaxActiveRuns = Positive(configuration, "Training:MaxActiveRuns", defaults.MaxActiveRuns),
            MaxSessions = Positive(configuration, "Inference:MaxSessions", defaults.MaxSessions),
            DataDirectory = configuration["Data:Directory"] is { Length: > 0 } directory ? Path.GetFullPath(directory) : null,
            MaxCorpusBytes = configuration["Data:MaxCorpusBytes"] is { Length: > 0 } max ? Size(max, "Data:MaxCorpusBytes") : defaults.MaxCorpusBytes,
        };
    }

    /// <summary>
    /// A budget as bytes ("12000000000"), with a unit ("12GB", "512MiB") or as a share of the memory this process may
    /// use ("50%").
    /// </summary>
    /// <exception cref="ArgumentException">Not a size, or not above zero.</exception>
    public static long Budget(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var text = value.Trim();
        if (text.EndsWith('%'))
        {
            if (!double.TryParse(text[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var percent) || percent is <= 0 or > 100)
            {
                throw new ArgumentException($"Compute:MemoryBudget as a share must be above 0% and at most 100%; got '{value}'.");
            }

            return (long)(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes * percent / 100);
        }

        return Size(text, "Compute:MemoryBudget");
    }

    private static long Size(string value, string setting)
    {
        var text = value.Trim();
        var digits = text.TakeWhile(ch => char.IsAsciiDigit(ch) || ch == '.').Count();
        var unit = text[digits..].Trim().ToUpperInvariant();
        double scale = unit switch
        {
            "" or "B" => 1,
            "KB" => 1e3, "MB" => 1e6, "GB" => 1e9, "TB" => 1e12,
            "KIB" => 1L << 10, "MIB" => 1L << 20, "GIB" => 1L << 30, "TIB" => 1L << 40,
            _ => 0,
        };
        if (scale == 0 || !double.TryParse(text[..digits], NumberStyles.Float, CultureInfo.InvariantCulture, out var number) || number <= 0)
        {
            throw new ArgumentException($"{setting} must be a size above zero such as 8GB, 512MiB or 1000000 (bytes); got '{value}'.");
        }

        return (long)(number * scale);
    }

    private static int Positive(IConfiguration configuration, string key, int fallback)
    {
        if (configuration[key] is not { Length: > 0 } text)
        {
            return fallback;
        }

        return int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && value >= 1
            ? value
            : throw new ArgumentException($"{key} must be a whole number of at least 1; got '{text}'.");
    }
}
