namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>Bad input from the user: reported as one line on stderr with exit code <see cref="ExitCodes.Usage"/>.</summary>
/// <remarks>The message names the problem and, where there is a fixed set of choices, lists them.</remarks>
internal sealed class CliUsageException : Exception
{
    public CliUsageException(string message)
        : base(message)
    {
    }

    public CliUsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
