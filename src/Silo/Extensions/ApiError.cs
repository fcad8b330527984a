namespace InsideLLMs.Distributed.Silo.Extensions;

/// <summary>What a refused request returns: one message naming the problem.</summary>
public sealed record ApiError(string Error);

/// <summary>The grains' refusals as HTTP: bad input (ArgumentException) is 400, a conflict with the state (InvalidOperationException) 409.</summary>
public static class ApiRefusals
{
    public static async Task<IResult> Guard(Func<Task<IResult>> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        try
        {
            return await action();
        }
        catch (ArgumentException e)
        {
            return Results.BadRequest(new ApiError(e.Message));
        }
        catch (InvalidOperationException e)
        {
            return Results.Conflict(new ApiError(e.Message));
        }
    }
}
