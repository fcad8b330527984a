using System.CommandLine;

namespace InsideLLMs.Distributed.Client.Cli;

internal static class CommandExtensions
{
    /// <summary>
    /// Sets a verb's action with the shared error path: <see cref="CliUsageException"/> becomes one line on stderr and
    /// exit code 2, <see cref="CliFailureException"/> one line and exit code 1, Ctrl+C exit code 130, any other failure one line and exit code 1. No stack traces reach the user.
    /// </summary>
    public static void SetCliAction(this Command command, Func<CliContext, CancellationToken, Task<int>> action)
    {
        ArgumentNullException.ThrowIfNull(command);
        ArgumentNullException.ThrowIfNull(action);
        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var context = CliContext.From(parseResult);
            try
            {
                return await action(context, cancellationToken);
            }
            catch (CliUsageException e)
            {
                await context.Error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Usage;
            }
            catch (CliFailureException e)
            {
                await context.Error.WriteLineAsync($"error: {e.Message}");
                return ExitCodes.Failure;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await context.Error.WriteLineAsync("cancelled");
                return ExitCodes.Cancelled;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                await context.Error.WriteLineAsync($"error: {e.GetType().Name}: {e.Message}");
                return ExitCodes.Failure;
            }
        });
    }

    /// <summary>Synchronous overload for verbs that do not await anything.</summary>
    public static void SetCliAction(this Command command, Func<CliContext, int> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        command.SetCliAction((context, _) => Task.FromResult(action(context)));
    }
}
