namespace InsideLLMs.Distributed.Client.Cli;

/// <summary>
/// The input was fine but the work could not be done (no silo answers, the run failed): one line on stderr and exit code
/// <see cref="ExitCodes.Failure"/>, without the exception's type name.
/// </summary>
internal sealed class CliFailureException : Exception
{
    public CliFailureException(string message)
        : base(message)
    {
    }

    public CliFailureException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
