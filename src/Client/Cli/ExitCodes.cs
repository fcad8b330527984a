namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>Process exit codes shared by every verb, so scripts can tell bad input from a failed job.</summary>
internal static class ExitCodes
{
    public const int Success = 0;

    /// <summary>The input was fine but the work failed (a silo unreachable, a file unreadable mid-run).</summary>
    public const int Failure = 1;

    /// <summary>Bad input: unknown verb or option, invalid value, nothing to do. Nothing was changed.</summary>
    public const int Usage = 2;

    /// <summary>Ctrl+C: 128 + SIGINT, as shells report it.</summary>
    public const int Cancelled = 130;
}
